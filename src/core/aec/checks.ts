/**
 * The five checks of the echo-cancellation verification. Each returns a CheckResult with what was
 * found and what to do; the facts later checks need travel in the returned objects.
 */
import type { CheckResult } from '../check-result.ts';
import { expectedBytes, formatToString, judgeByteCount, byteTolerance, bytesPerSample, type AudioFormat } from './audio-format.ts';
import { findEchoCancelConfig } from './config-files.ts';
import { describeModule, readEchoCancelModule, type EchoCancelModule } from './echo-cancel-module.ts';
import { EchoTestError, runEchoTest } from './echo-test.ts';
import { formatDbfs, measureLevel } from './level.ts';
import { parseModules, parseServerInfo, parseSourceOutputs, parseSources, type ServerInfo, type SourceInfo } from './pactl-json.ts';
import { startRecorder } from './recorder.ts';
import { suggestSources } from './suggest.ts';
import { runTool, ToolMissingError, type ToolResult } from './tools.ts';

export interface CheckContext {
  env: NodeJS.ProcessEnv;
  signal?: AbortSignal;
}

const pactlTimeoutMs = 5000;

async function pactlJson(ctx: CheckContext, args: string[]): Promise<string> {
  const r = await runTool('pactl', ['-f', 'json', ...args], { env: ctx.env, timeoutMs: pactlTimeoutMs, ...(ctx.signal ? { signal: ctx.signal } : {}) });
  ctx.signal?.throwIfAborted();
  if (r.timedOut) throw new Error(`pactl ${args.join(' ')} did not answer within ${pactlTimeoutMs / 1000} s`);
  if (r.exitCode !== 0) throw new Error(`pactl ${args.join(' ')} failed: ${r.stderr.trim() || `exit code ${r.exitCode ?? '?'}`}`);
  return r.stdout;
}

const startPipewire = 'systemctl --user start pipewire pipewire-pulse wireplumber';

/** Check 1: a PulseAudio-compatible server answers, and it is PipeWire. */
export async function checkServer(ctx: CheckContext, platform: NodeJS.Platform): Promise<{ result: CheckResult; server: ServerInfo | null }> {
  const id = 'aec.server';
  const title = 'PipeWire answers';
  const unavailable = (detail: string, advice: string) => ({ result: { id, title, status: 'unavailable' as const, detail, advice }, server: null });
  if (platform !== 'linux') {
    return unavailable(
      `Not available here: the echo-cancellation check needs Linux with PipeWire, and this is ${platform}.`,
      'Run it on the Linux machine (or remote workspace) where the voice assistant runs.',
    );
  }
  let r: ToolResult;
  try {
    r = await runTool('pactl', ['-f', 'json', 'info'], { env: ctx.env, timeoutMs: pactlTimeoutMs, ...(ctx.signal ? { signal: ctx.signal } : {}) });
  } catch (e) {
    if (e instanceof ToolMissingError) {
      return unavailable(
        `Not available here: pactl is not installed, so no PulseAudio-compatible sound server can be asked.`,
        `Install pactl: sudo apt-get install ${e.debianPackage} (and PipeWire itself: pipewire pipewire-pulse wireplumber).`,
      );
    }
    throw e;
  }
  ctx.signal?.throwIfAborted();
  const stderr = r.stderr.trim();
  if (r.exitCode !== 0 || r.timedOut) {
    if (/unrecognized option|invalid option|unknown option/i.test(stderr)) {
      return {
        result: {
          id,
          title,
          status: 'fail',
          detail: `pactl is too old to print JSON (${stderr.split('\n')[0]}).`,
          advice: 'Install pactl 16 or later (pulseaudio-utils from Debian 12, Ubuntu 22.04 or newer).',
        },
        server: null,
      };
    }
    const why = r.timedOut ? `pactl did not answer within ${pactlTimeoutMs / 1000} s` : stderr || `pactl exited with code ${r.exitCode ?? '?'}`;
    return unavailable(
      `Not available here: no PulseAudio-compatible sound server answers (${why}), so PipeWire is not running for this user${ctx.env.XDG_RUNTIME_DIR ? ` (runtime directory ${ctx.env.XDG_RUNTIME_DIR})` : ' (XDG_RUNTIME_DIR is not set)'}.`,
      `Start PipeWire: ${startPipewire}. If it is not installed: sudo apt-get install pipewire pipewire-pulse wireplumber.`,
    );
  }
  const server = parseServerInfo(r.stdout);
  if (server.pipewireVersion === null) {
    return unavailable(
      `Not available here: the sound server is "${server.serverName}" ${server.serverVersion}, not PipeWire; this check is for PipeWire's echo-cancel module.`,
      "Switch to PipeWire (pipewire-pulse replaces PulseAudio), or check PulseAudio's module-echo-cancel by hand.",
    );
  }
  return {
    result: {
      id,
      title,
      status: 'pass',
      detail: `PipeWire ${server.pipewireVersion} answers through its PulseAudio interface ("${server.serverName}"); default source "${server.defaultSourceName}", default sink "${server.defaultSinkName}".`,
      advice: '',
      data: {
        pipewireVersion: server.pipewireVersion,
        serverName: server.serverName,
        defaultSource: server.defaultSourceName,
        defaultSink: server.defaultSinkName,
      },
    },
    server,
  };
}

const configSnippet =
  'context.modules = [ { name = libpipewire-module-echo-cancel args = { library.name = aec/libspa-aec-webrtc monitor.mode = true ' +
  'source.props = { node.name = "Echo Cancellation Source" node.description = "Echo Cancellation Source" } } } ]';

/** Check 2: the echo-cancel module is loaded; its arguments and where it is configured. */
export async function checkModule(ctx: CheckContext, sourceName: string): Promise<{ result: CheckResult; module: EchoCancelModule | null }> {
  const id = 'aec.module';
  const title = 'Echo-cancel module loaded';
  const modules = parseModules(await pactlJson(ctx, ['list', 'modules']))
    .map(readEchoCancelModule)
    .filter((m): m is EchoCancelModule => m !== null);
  const files = await findEchoCancelConfig(ctx.env);
  const module = modules.find((m) => m.sourceName === sourceName) ?? modules[0];
  if (module === undefined) {
    const detail =
      files.length > 0
        ? `The echo-cancel module is not loaded, although ${files.map((f) => `"${f}"`).join(', ')} loads it: PipeWire was not restarted since the file changed, or the file has an error.`
        : 'The echo-cancel module is not loaded, and no PipeWire configuration file loads it.';
    const advice =
      files.length > 0
        ? `Restart PipeWire (systemctl --user restart pipewire pipewire-pulse wireplumber) and read its messages: journalctl --user -u pipewire -b.`
        : `Create ~/.config/pipewire/pipewire.conf.d/echo-cancel.conf with: ${configSnippet} — then restart PipeWire: systemctl --user restart pipewire pipewire-pulse wireplumber.`;
    return { result: { id, title, status: 'fail', detail, advice, data: { configFiles: files } }, module: null };
  }
  const where =
    files.length > 0
      ? `configured in ${files.map((f) => `"${f}"`).join(', ')}`
      : module.kind === 'pulse'
        ? 'loaded at run time with pactl load-module (no configuration file loads it)'
        : 'no configuration file that loads it was found in the usual places';
  const others = modules.length > 1 ? ` ${modules.length} echo-cancel modules are loaded; this one is the one for "${module.sourceName}".` : '';
  const data = {
    library: module.library,
    monitorMode: module.monitorMode,
    moduleSource: module.sourceName,
    kind: module.kind,
    configFiles: files,
    aecArgs: module.aecArgs,
  };
  const detail = `Loaded (${module.moduleName}): ${describeModule(module)}; ${where}.${others}`;
  if (module.library === 'null') {
    return {
      result: {
        id,
        title,
        status: 'warn',
        detail,
        advice: 'The null canceller removes no echo. Use WebRTC: library.name = aec/libspa-aec-webrtc (or aec_method=webrtc), then restart PipeWire.',
        data,
      },
      module,
    };
  }
  if (module.kind === 'pulse' && files.length === 0) {
    return {
      result: {
        id,
        title,
        status: 'warn',
        detail,
        advice: `It will be gone after PipeWire restarts. Make it permanent in ~/.config/pipewire/pipewire.conf.d/echo-cancel.conf: ${configSnippet}`,
        data,
      },
      module,
    };
  }
  return { result: { id, title, status: 'pass', detail, advice: '', data }, module };
}

/** Check 3: the source named in the settings exists by exact name. */
export async function checkSource(
  ctx: CheckContext,
  sourceName: string,
  module: EchoCancelModule | null,
  server: ServerInfo,
): Promise<{ result: CheckResult; source: SourceInfo | null; sources: SourceInfo[] }> {
  const id = 'aec.source';
  const title = `Source "${sourceName}" exists`;
  const sources = parseSources(await pactlJson(ctx, ['list', 'sources']));
  const source = sources.find((s) => s.name === sourceName) ?? null;
  if (source === null) {
    const suggestions = suggestSources(sourceName, sources);
    const near = suggestions.length > 0 ? ` Near misses: ${suggestions.map((s) => `"${s.name}" (${s.reason})`).join('; ')}.` : '';
    const best = suggestions[0];
    const advice =
      best !== undefined
        ? `Set vramGuard.aec.sourceName (and the application's device name) to the exact name "${best.name}".`
        : module === null
          ? 'Load the echo-cancel module first (see the check above); it creates the source.'
          : `The echo-cancel module names its source "${module.sourceName}": use that name, or set source.props.node.name in its configuration.`;
    return {
      result: {
        id,
        title,
        status: 'fail',
        detail: `No source is named exactly "${sourceName}". A recording from that name would not fail: PipeWire silently records from the default source ("${server.defaultSourceName}") instead.${near}`,
        advice,
        data: { suggestions, sources: sources.map((s) => s.name) },
      },
      source: null,
      sources,
    };
  }
  const data = { index: source.index, description: source.description, mediaClass: source.mediaClass };
  const detail = `Found: index ${source.index}, description "${source.description}", class ${source.mediaClass || 'unknown'}.`;
  const isEchoCancelled = (module !== null && module.sourceName === sourceName) || (source.properties['node.group'] ?? '').startsWith('echo-cancel');
  if (source.monitorOfSink !== null || !isEchoCancelled) {
    return {
      result: {
        id,
        title,
        status: 'warn',
        detail: `${detail} ${source.monitorOfSink !== null ? `It is the monitor of the sink "${source.monitorOfSink}", not a microphone.` : "It is not the echo-cancel module's source, so what it records is not echo-cancelled."}`,
        advice: module ? `Use the echo-cancelled source "${module.sourceName}".` : 'Load the echo-cancel module and use its source.',
        data,
      },
      source,
      sources,
    };
  }
  return { result: { id, title, status: 'pass', detail, advice: '', data }, source, sources };
}

/** Check 4: a short recording in the application's format, from the source asked for. */
export async function checkRecording(ctx: CheckContext, sourceName: string, format: AudioFormat, seconds: number): Promise<CheckResult> {
  const id = 'aec.recording';
  const title = `Recording ${seconds} s (${formatToString(format)})`;
  const firstByteDeadlineMs = 3000;
  const rec = startRecorder({
    source: sourceName,
    format,
    env: ctx.env,
    maxMs: firstByteDeadlineMs + seconds * 1000 + 3000,
    watchStream: true,
    ...(ctx.signal ? { signal: ctx.signal } : {}),
  });
  const expected = expectedBytes(format, seconds);
  const gotData = await rec.firstByte(firstByteDeadlineMs);
  // Wait for the expected bytes: a busy machine may deliver them late, in bursts, but all of them
  // must come within half as long again (plus half a second).
  const lateLimitMs = seconds * 1500 + 500;
  if (gotData) await rec.whenBytes(expected, lateLimitMs);
  const result = await rec.finish();
  ctx.signal?.throwIfAborted();
  const firstChunk = result.chunks[0];
  if (!gotData || firstChunk === undefined) {
    return {
      id,
      title,
      status: 'fail',
      detail: `No audio came from "${sourceName}" within ${firstByteDeadlineMs / 1000} s${result.toolError ? ` (${result.toolError})` : ''}.`,
      advice:
        'Check that the source is not suspended by an error (pactl list sources) and that PipeWire runs normally (journalctl --user -u pipewire -u wireplumber -b).',
    };
  }
  // The bytes up to the chunk that completed the expected count (at most the count: the last chunk
  // may hold more), and how long they took.
  let total = 0;
  const firstT = firstChunk.t;
  let lastT = firstT;
  for (const c of result.chunks) {
    if (total >= expected) break;
    total += c.data.length;
    lastT = c.t;
  }
  const received = Math.min(total, expected);
  const elapsedS = (lastT - firstT) / 1000;
  const frame = bytesPerSample(format.sampleFormat) * format.channels;
  const audio = Buffer.concat(result.chunks.map((c) => c.data)).subarray(0, received - (received % frame));
  const level = measureLevel(audio, format);
  const verdict = judgeByteCount(received, expected);
  // The first chunk holds audio captured before it came, so real time allows a little less.
  const tooFast = received >= expected && elapsedS < seconds * (1 - byteTolerance) - 0.1;
  const streamName = result.streamSource?.name ?? null;
  const data = {
    expectedBytes: expected,
    receivedBytes: received,
    ratio: Number(verdict.ratio.toFixed(3)),
    elapsedSeconds: Number(elapsedS.toFixed(2)),
    rmsDbfs: Number.isFinite(level.rmsDbfs) ? Number(level.rmsDbfs.toFixed(1)) : null,
    peakDbfs: Number.isFinite(level.peakDbfs) ? Number(level.peakDbfs.toFixed(1)) : null,
    silent: level.allZero,
    streamSource: streamName,
  };
  const bytesText = `${received} bytes of ${expected} expected (${(verdict.ratio * 100).toFixed(0)} %, tolerance ±${byteTolerance * 100} %) in ${elapsedS.toFixed(2)} s`;
  const levelText = level.allZero ? 'all zeros' : `level ${formatDbfs(level.rmsDbfs)} RMS, peak ${formatDbfs(level.peakDbfs)}`;
  const streamText = streamName
    ? `the stream recorded from "${streamName}"`
    : result.streamSource
      ? `the stream recorded from source #${result.streamSource.index}`
      : "the stream's source was not seen";
  const detail = `${bytesText}; ${levelText}; ${streamText}.`;
  if (result.streamSource && streamName !== sourceName) {
    return {
      id,
      title,
      status: 'fail',
      detail: `${detail} The recording came from ${streamName ? `"${streamName}"` : `source #${result.streamSource.index}`}, not from "${sourceName}": PipeWire fell back to another source, so this recording proves nothing about "${sourceName}".`,
      advice: 'Use the exact source name (see the source check above).',
      data,
    };
  }
  if (!verdict.ok || tooFast) {
    return {
      id,
      title,
      status: 'fail',
      detail: `${detail} ${tooFast ? `The bytes came faster than real time (${elapsedS.toFixed(2)} s for ${seconds} s of audio): the format was not applied.` : `Too few bytes within ${(lateLimitMs / 1000).toFixed(1)} s: the source delivers audio slower than real time or stalls.`}`,
      advice:
        "Check the source's state (pactl list sources) and PipeWire's messages (journalctl --user -u pipewire -b); an overloaded machine can also starve the stream.",
      data,
    };
  }
  if (level.allZero) {
    return {
      id,
      title,
      status: 'warn',
      detail: `${detail} Silent: is a microphone connected?`,
      advice: 'Connect or unmute the microphone the canceller records from (pavucontrol, or pactl set-source-mute <mic> 0), then check again.',
      data,
    };
  }
  if (result.streamSource === null) {
    return {
      id,
      title,
      status: 'warn',
      detail: `${detail} Which source the stream used could not be confirmed.`,
      advice: 'Run the check again; if it repeats, confirm with pactl list source-outputs while recording.',
      data,
    };
  }
  return { id, title, status: 'pass', detail, advice: '', data };
}

/** The microphone the canceller records from: where its capture stream is connected. */
export async function findRawMicrophone(ctx: CheckContext, source: SourceInfo, sources: readonly SourceInfo[]): Promise<string | null> {
  const group = source.properties['node.group'];
  if (!group) return null;
  const outputs = parseSourceOutputs(await pactlJson(ctx, ['list', 'source-outputs']));
  const capture = outputs.find(
    (o) =>
      o.properties['node.group'] === group && o.properties['stream.capture.sink'] !== 'true' && o.properties['stream.monitor'] !== 'true' && o.source !== null,
  );
  if (!capture) return null;
  return sources.find((s) => s.index === capture.source)?.name ?? null;
}

/** Check 5: the echo test. */
export async function checkEcho(
  ctx: CheckContext,
  sourceName: string,
  source: SourceInfo | null,
  sources: readonly SourceInfo[],
  module: EchoCancelModule | null,
  format: AudioFormat,
  seconds: number,
): Promise<CheckResult> {
  const id = 'aec.echo';
  const title = 'Echo test';
  if (module === null || source === null) {
    return {
      id,
      title,
      status: 'fail',
      detail: `Not run: ${module === null ? 'the echo-cancel module is not loaded' : `the source "${sourceName}" does not exist`}.`,
      advice: 'Fix the checks above first.',
    };
  }
  const raw = await findRawMicrophone(ctx, source, sources);
  if (raw === null) {
    return {
      id,
      title,
      status: 'fail',
      detail: 'Not run: the microphone the canceller records from could not be found (its capture stream is not connected to a source).',
      advice: 'Connect a microphone, or set the canceller\'s capture target (capture.props = { target.object = "<microphone>" }), then restart PipeWire.',
    };
  }
  try {
    const r = await runEchoTest({ cancelledSource: sourceName, rawSource: raw, format, seconds, env: ctx.env, ...(ctx.signal ? { signal: ctx.signal } : {}) });
    const data = {
      reductionDb: Number(r.reductionDb.toFixed(1)),
      reductionIsLowerBound: r.cancelledSilent,
      microphoneDbfs: Number(r.rawDbfs.toFixed(1)),
      cancelledDbfs: Number.isFinite(r.cancelledDbfs) ? Number(r.cancelledDbfs.toFixed(1)) : null,
      microphone: raw,
      library: module.library,
      timeline: r.timeline,
    };
    const amount = r.cancelledSilent
      ? `at least ${r.reductionDb.toFixed(1)} dB (what is left is below the quietest level the format can carry)`
      : `${r.reductionDb.toFixed(1)} dB`;
    const detail = `The canceller removes ${amount}: test noise on the default output reached the microphone "${raw}" at ${formatDbfs(r.rawDbfs)} and "${sourceName}" at ${formatDbfs(r.cancelledDbfs)} (measured over the last ${r.measuredSeconds.toFixed(1)} s of ${seconds} s, after the canceller adapted).`;
    if (r.reductionDb >= 10) return { id, title, status: 'pass', detail, advice: '', data };
    const advice =
      module.library === 'null'
        ? 'The null canceller passes the microphone through unchanged: set library.name = aec/libspa-aec-webrtc and restart PipeWire.'
        : module.monitorMode
          ? 'Little echo is removed. Lower the speaker volume, move the microphone away from the speakers, and check that the assistant plays on the default output.'
          : `Little echo is removed. Without monitor mode only sound played to "${module.sinkName}" is cancelled: play the assistant's voice there, or set monitor.mode = true.`;
    return { id, title, status: 'warn', detail: `${detail}${module.library === 'null' ? ' The null canceller removes nothing.' : ''}`, advice, data };
  } catch (e) {
    if (e instanceof ToolMissingError) return { id, title, status: 'fail', detail: `Not run: ${e.message}`, advice: `sudo apt-get install ${e.debianPackage}` };
    if (e instanceof EchoTestError) return { id, title, status: 'fail', detail: e.message, advice: e.advice };
    throw e;
  }
}
