/** pactl JSON parsing and the echo-cancel module's arguments, on output captured from PipeWire 0.3.65. */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { PactlFormatError, parseModules, parseServerInfo, parseSourceOutputs, parseSources } from '../../../src/core/aec/pactl-json.ts';
import { describeModule, parsePulseModuleArgs, readEchoCancelModule } from '../../../src/core/aec/echo-cancel-module.ts';
import { parseSpaJson, spaGet } from '../../../src/core/aec/spa-json.ts';
import { loadsEchoCancel } from '../../../src/core/aec/config-files.ts';

const fixture = (name: string): string => readFileSync(new URL(`../../fixtures/pipewire/pactl/${name}.json`, import.meta.url), 'utf8');

describe('pactl JSON', () => {
  it('reads the server and the PipeWire version', () => {
    const info = parseServerInfo(fixture('info'));
    assert.equal(info.pipewireVersion, '0.3.65');
    assert.equal(info.serverName, 'PulseAudio (on PipeWire 0.3.65)');
    assert.equal(info.defaultSourceName, 'Echo Cancellation Source');
  });

  it('tells real PulseAudio from PipeWire', () => {
    const info = parseServerInfo(JSON.stringify({ server_name: 'pulseaudio', server_version: '16.1', default_sink_name: 'x', default_source_name: 'y' }));
    assert.equal(info.pipewireVersion, null);
  });

  it('reads sources with their description, class and monitored sink', () => {
    const sources = parseSources(fixture('sources'));
    assert.deepEqual(
      sources.map((s) => [s.name, s.description, s.mediaClass, s.monitorOfSink]),
      [
        ['Echo Cancellation Source', 'Echo Cancellation Source', 'Audio/Source', null],
        ['ci_mic', 'ci_mic Audio/Source/Virtual sink', 'Audio/Source/Virtual', null],
        ['aec_null_source', 'Echo-Cancel Source', 'Audio/Source', null],
        ['aec_null_sink.monitor', 'Monitor of Echo-Cancel Sink', 'Audio/Sink', 'aec_null_sink'],
      ],
    );
    assert.match(sources[0]!.properties['node.group'] ?? '', /^echo-cancel-/);
  });

  it('reads source-outputs with the source they record from', () => {
    const outputs = parseSourceOutputs(fixture('source-outputs'));
    const capture = outputs.find((o) => o.properties['node.name'] === 'Echo Cancellation Capture');
    assert.equal(capture?.source, 59);
  });

  it('treats 4294967295 (no index) as null', () => {
    assert.deepEqual(parseSourceOutputs('[{"index":3,"source":4294967295,"properties":{}}]')[0]!.source, null);
  });

  it('says clearly when the output is not what pactl 16 prints', () => {
    assert.throws(() => parseSources('Source #1\n\tName: x'), PactlFormatError);
    assert.throws(() => parseSources('{"a":1}'), /not a list/);
    assert.throws(() => parseServerInfo('{}'), /no server_name/);
    assert.throws(() => parseModules('[1]'), /modules\[0\] is not an object/);
  });
});

describe('echo-cancel module arguments', () => {
  const modules = parseModules(fixture('modules'));

  it('reads the PipeWire-native module from its SPA JSON arguments', () => {
    const m = modules.map(readEchoCancelModule).find((x) => x?.kind === 'pipewire');
    assert.ok(m);
    assert.equal(m.library, 'webrtc');
    assert.equal(m.libraryIsDefault, false);
    assert.equal(m.monitorMode, true);
    assert.equal(m.sourceName, 'Echo Cancellation Source');
    assert.equal(m.aecArgs['webrtc.noise_suppression'], 'false');
    assert.match(describeModule(m), /AEC library webrtc, monitor mode on/);
  });

  it('reads the module loaded at run time through pactl', () => {
    const m = modules.map(readEchoCancelModule).find((x) => x?.kind === 'pulse');
    assert.ok(m);
    assert.equal(m.library, 'null');
    assert.equal(m.monitorMode, false);
    assert.equal(m.sourceName, 'aec_null_source');
    assert.equal(m.sinkName, 'aec_null_sink');
    assert.deepEqual(m.aecArgs, { 'webrtc.noise_suppression': 'false' });
  });

  it('ignores other modules and knows the defaults', () => {
    assert.equal(readEchoCancelModule({ index: 1, name: 'libpipewire-module-rt', argument: '', properties: {} }), null);
    const m = readEchoCancelModule({ index: 2, name: 'libpipewire-module-echo-cancel', argument: '{ }', properties: {} });
    assert.equal(m?.library, 'webrtc');
    assert.equal(m?.libraryIsDefault, true);
    assert.equal(m?.sourceName, 'echo-cancel-source');
    assert.match(describeModule(m!), /webrtc \(the default\), monitor mode off/);
  });

  it('splits PulseAudio module arguments with quotes', () => {
    assert.deepEqual(parsePulseModuleArgs(`a=1 b="two words" c='x=y' d=`), { a: '1', b: 'two words', c: 'x=y', d: '' });
  });
});

describe('SPA JSON', () => {
  it('reads bare keys, = and :, comments, nesting and quoted strings', () => {
    const v = parseSpaJson(`
      # a comment
      library.name = aec/libspa-aec-webrtc
      monitor.mode: true,
      source.props = { node.name = "Echo Cancellation Source" # trailing comment
                       audio.position = [ FL FR ] }
      target = alsa_input.pci-0000:00:1f.3.analog-stereo
    `);
    assert.equal(spaGet(v, 'library.name'), 'aec/libspa-aec-webrtc');
    assert.equal(spaGet(v, 'monitor.mode'), 'true');
    assert.equal(spaGet(v, 'source.props', 'node.name'), 'Echo Cancellation Source');
    assert.deepEqual(spaGet(v, 'source.props', 'audio.position'), ['FL', 'FR']);
    assert.equal(spaGet(v, 'target'), 'alsa_input.pci-0000:00:1f.3.analog-stereo');
    assert.equal(spaGet(v, 'missing', 'deeper'), undefined);
  });

  it('never throws on broken input', () => {
    for (const text of ['{', '{ a = ', '[ [ ', '"unterminated', '= = =', '}}}']) assert.doesNotThrow(() => parseSpaJson(text));
  });
});

describe('configuration files', () => {
  it('finds the module outside comments only', () => {
    assert.equal(loadsEchoCancel('context.modules = [ { name = libpipewire-module-echo-cancel } ]'), true);
    assert.equal(loadsEchoCancel('pulse.cmd = [ { cmd = "load-module" args = "module-echo-cancel" } ]'), true);
    assert.equal(loadsEchoCancel('#{ name = libpipewire-module-echo-cancel }\ncontext.modules = []'), false);
  });
});
