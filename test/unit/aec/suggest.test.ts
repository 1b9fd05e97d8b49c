/** Near misses for a source name that does not exist. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { SourceInfo } from '../../../src/core/aec/pactl-json.ts';
import { editDistance, normaliseName, suggestSources } from '../../../src/core/aec/suggest.ts';

const src = (name: string, description = name, extra: Partial<SourceInfo> = {}): SourceInfo => ({
  index: 1,
  name,
  description,
  mediaClass: 'Audio/Source',
  monitorOfSink: null,
  properties: {},
  ...extra,
});

const sources = [
  src('echo-cancel-source', 'Echo Cancellation Source', { properties: { 'node.group': 'echo-cancel-1-2' } }),
  src('alsa_input.usb-Blue_Yeti-00.analog-stereo', 'Yeti Stereo Microphone Analog Stereo'),
  src('alsa_output.pci-0000_00_1f.3.analog-stereo.monitor', 'Monitor of Built-in Audio', {
    monitorOfSink: 'alsa_output.pci-0000_00_1f.3.analog-stereo',
    mediaClass: 'Audio/Sink',
  }),
];

describe('near-miss suggestions', () => {
  it('suggests nothing when the name exists exactly', () => {
    assert.deepEqual(suggestSources('echo-cancel-source', sources), []);
  });

  it('finds the source whose description is the name asked for', () => {
    const s = suggestSources('Echo Cancellation Source', sources);
    assert.equal(s[0]?.name, 'echo-cancel-source');
    assert.match(s[0]!.reason, /its description is "Echo Cancellation Source"/);
  });

  it('finds underscores for spaces and other case', () => {
    const s = suggestSources('echo_cancellation_source', [src('Echo Cancellation Source'), ...sources.slice(1)]);
    assert.equal(s[0]?.name, 'Echo Cancellation Source');
    assert.match(s[0]!.reason, /case, spaces, underscores or dashes/);
  });

  it('finds a typo', () => {
    const s = suggestSources('Echo Cancelation Source', [src('Echo Cancellation Source', 'AEC')]);
    assert.equal(s[0]?.name, 'Echo Cancellation Source');
    assert.match(s[0]!.reason, /1 character away/);
  });

  it('offers echo-cancelled sources, never monitors, when nothing is close', () => {
    const s = suggestSources('my mic', sources);
    assert.deepEqual(
      s.map((x) => x.name),
      ['echo-cancel-source'],
    );
    assert.equal(suggestSources('zzz', [sources[2]!]).length, 0);
  });

  it('normalises and measures names', () => {
    assert.equal(normaliseName(' Echo_Cancellation--Source '), 'echo cancellation source');
    assert.equal(editDistance('kitten', 'sitting'), 3);
    assert.equal(editDistance('', 'abc'), 3);
  });
});
