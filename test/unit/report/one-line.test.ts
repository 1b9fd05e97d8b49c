/**
 * Every notification VRAM Guard shows is one sentence under 160 characters that names its figure.
 * The reports come from the real checks (the pre-flight, the gates) over GPU samples; the figures
 * the tests look for are worked out here from the sample's MiB, not taken from the code.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { runPreflight, type PreflightNeed, type PreflightReport } from '../../../src/core/checks/preflight.ts';
import type { SpikeReport } from '../../../src/core/checks/spike.ts';
import { DEFAULT_TIMING } from '../../../src/core/checks/spike-spec.ts';
import type { GpuDevice } from '../../../src/core/gpu/types.ts';
import {
  aecUnavailableLine,
  clip,
  errorLine,
  fallbackConfirmLine,
  fallbackResultLine,
  gateRefusalLine,
  fleetCriticalLine,
  levelAlertLine,
  MAX_LINE,
  notificationLine,
  settingsProblemsLine,
} from '../../../src/core/report/one-line.ts';
import { preflightLine, spikeVerdictLine } from '../../../src/core/checks/check-lines.ts';
import { gateMarkdown } from '../../../src/core/servers/gate-report.ts';
import { preflightGate } from '../../../src/core/checks/preflight-gate.ts';
import { simpleGate, type GateInput } from '../../../src/core/servers/vram-gate.ts';
import { GiB, MiB, parseSize, type SizeSpec } from '../../../src/core/units.ts';
import { DEFAULT_THRESHOLDS, parseThresholds } from '../../../src/core/watch/thresholds.ts';
import type { GpuReading } from '../../../src/core/watch/watcher.ts';

/** One line, under the limit, no line break. */
function assertOneLine(text: string): void {
  assert.ok(text.length < MAX_LINE, `${text.length} characters: ${text}`);
  assert.ok(!/[\r\n]/.test(text), `more than one line: ${text}`);
  assert.match(text, /[.…]$/, `not a sentence: ${text}`);
}

const size = (t: string): SizeSpec => {
  const s = parseSize(t);
  assert.ok(!('error' in s));
  return s;
};
const thresholds = DEFAULT_THRESHOLDS;

/** A GPU of `totalMiB` with `freeMiB` free, all used memory held by one process. */
function reading(totalMiB: number, freeMiB: number, extra: Partial<GpuDevice> = {}): GpuReading {
  const used = (totalMiB - freeMiB) * MiB;
  const device: GpuDevice = {
    index: 0,
    name: 'NVIDIA RTX A1000 Laptop GPU',
    uuid: 'GPU-a1000',
    memory: { total: totalMiB * MiB, used, free: freeMiB * MiB, reserved: 0 },
    utilization: { gpu: 0, memory: 0 },
    temperatureC: null,
    powerW: null,
    persistenceMode: true,
    processes: [{ pid: 4242, name: 'python3', usedBytes: used, kind: 'compute' }],
    error: null,
    ...extra,
  };
  return { ok: true, sample: { source: 'nvml', timestamp: 1000, driverVersion: '550.54.14', sourceVersion: '12.550', devices: [device] }, description: 'NVML' };
}

function preflight(r: GpuReading, need: PreflightNeed, margin = '1GiB'): PreflightReport {
  return runPreflight(r, {
    gpu: 0,
    need,
    margin: size(margin),
    residualThreshold: size('100MiB'),
    thresholds,
    platform: 'linux',
    strict: false,
  });
}

const input = (taskName: string, r: GpuReading, needsBytes: number): GateInput => ({
  taskName,
  gpu: 0,
  reading: r,
  needsBytes,
  modelPath: null,
  contextLength: null,
});

describe('one-line notifications', () => {
  it("the gate's refusal: the need, what is free and the shortfall, in GiB (the sample workspace's 8B task on a 4 GB card)", async () => {
    // 4096 MiB card, 410 MiB free; the task needs 6 GiB: 6144 MiB = 6.0 GiB, 410 MiB = 0.4 GiB, 5734 MiB = 5.6 GiB short.
    const gate = preflightGate(() => ({ margin: size('1GiB'), residualThreshold: size('100MiB'), thresholds, platform: 'linux' }));
    const name = 'llama 3.1 8B, 8k context (the gate refuses)';
    const r = await gate(input(name, reading(4096, 410), 6 * GiB));
    assert.equal(r.status, 'fail');
    assert.equal(r.headline, `Not started: ${name} needs 6.0 GiB, 0.4 GiB is free (5.6 GiB short).`);
    assertOneLine(r.headline ?? '');
    // The paragraph it replaces in the notification is still there, in the details "Show details" opens.
    assert.ok(r.summary.length > MAX_LINE, r.summary);
    const details = gateMarkdown(name, r);
    assert.match(details, /^# VRAM gate: "llama 3\.1 8B, 8k context \(the gate refuses\)"/);
    assert.match(details, /\| Free VRAM for the need \| ❌ fail \| 410 MiB free < 6144 MiB needed: 5734 MiB short/);
  });

  it("the gate's refusal cuts a long task name, never the figures", () => {
    const long = `llama ${'very-long-quantisation-name-'.repeat(6)}Q4_K_M`;
    const line = gateRefusalLine(long, [
      { id: 'preflight.free', title: 'Free', status: 'fail', detail: '', advice: '', data: { freeBytes: 512 * MiB, needBytes: 7168 * MiB, marginBytes: GiB } },
    ]);
    assertOneLine(line);
    assert.match(line, /needs 7\.0 GiB, 0\.5 GiB is free \(6\.5 GiB short\)\.$/);
    assert.match(line, /…/);
  });

  it("the stand-in gate's refusal within the margin says the margin is what is short", async () => {
    // 8192 MiB free, needs 7680 MiB + 1024 MiB margin = 8704 MiB: 512 MiB = 0.5 GiB short with the margin.
    const r = await simpleGate(GiB)(input('whisper', reading(12288, 8192), 7680 * MiB));
    assert.equal(r.status, 'fail');
    assert.equal(r.headline, 'Not started: whisper needs 7.5 GiB, 8.0 GiB is free (0.5 GiB short with the 1.0 GiB margin).');
  });

  it('the gate refusing for the level it would reach names the level and the projected use', async () => {
    // 8192 MiB card, 1464 MiB used; needs 6 GiB → 7608 MiB = 7.4 GiB: above CRITICAL (87.5%, 7168 MiB), free check warns (margin).
    const gate = preflightGate(() => ({ margin: size('512MiB'), residualThreshold: size('100MiB'), thresholds, platform: 'linux' }));
    const r = await gate(input('qwen 7B', reading(8192, 8192 - 1464), 6 * GiB));
    assert.equal(r.status, 'fail');
    assert.match(r.headline ?? '', /^Not started: qwen 7B would take the GPU to (CRITICAL|EMERGENCY) \(7\.4 GiB of 8\.0 GiB used\)\.$/);
    assertOneLine(r.headline ?? '');
  });

  it('a level alert: the level, used of total in GiB and the percentage', () => {
    // 7782 of 8192 MiB: 7.6 of 8.0 GiB, 95%.
    const line = levelAlertLine({ gpu: 0, to: 'emergency', usedBytes: 7782 * MiB, totalBytes: 8192 * MiB });
    assert.equal(line, 'GPU 0 is at EMERGENCY: 7.6 GiB of 8.0 GiB used (95%) — a server that allocates more may fail.');
    assertOneLine(line);
    assertOneLine(levelAlertLine({ gpu: 12, to: 'warning', usedBytes: 70_000 * MiB, totalBytes: 81_920 * MiB }));
  });

  it('a fleet GPU turned CRITICAL: the host, the GPU, used of total in GiB and the percentage', () => {
    // 22630 of 24576 MiB: 22.1 of 24.0 GiB, 92%.
    const line = fleetCriticalLine({
      host: 'gpu-box-2',
      gpu: 1,
      name: 'NVIDIA GeForce RTX 4090',
      level: 'critical',
      usedBytes: 22_630 * MiB,
      totalBytes: 24_576 * MiB,
    });
    assert.equal(line, 'gpu-box-2 GPU 1 (NVIDIA GeForce RTX 4090) is CRITICAL at 22.1 GiB of 24.0 GiB (92%).');
    assertOneLine(line);
    assertOneLine(fleetCriticalLine({ host: 'h'.repeat(300), gpu: 7, name: 'n'.repeat(300), level: 'emergency', usedBytes: 1, totalBytes: 2 }));
  });

  it('pre-flight: fail, pass, within the margin and "GPU only" each name the need and what is free', () => {
    const fail = preflightLine(preflight(reading(4096, 410), { kind: 'size', bytes: 6 * GiB, from: '--need' }));
    assert.equal(fail, 'Pre-flight failed: 6.0 GiB needed, 0.4 GiB free on GPU 0 (5.6 GiB short).');
    // 8192 MiB card, 6000 MiB free, 2 GiB needed: passes.
    const pass = preflightLine(preflight(reading(8192, 6000), { kind: 'size', bytes: 2 * GiB, from: '--need' }));
    assert.match(pass, /^Pre-flight passed: 2\.0 GiB fits in 5\.9 GiB free on GPU 0/);
    // 6000 MiB free, 4500 MiB needed: fits, but leaves 1500 MiB, less than the 25% (2048 MiB) margin; 6692 MiB used after is WARNING.
    const margin = preflightLine(preflight(reading(8192, 6000), { kind: 'size', bytes: 4500 * MiB, from: '--need' }, '25%'));
    assert.match(margin, /^Pre-flight: 4\.4 GiB fits in 5\.9 GiB free on GPU 0, but inside the 2\.0 GiB margin; 2 warnings in the details\.$/);
    // 2560 MiB more on 5192 MiB used: 7752 MiB = 7.6 GiB, CRITICAL (above 90% of 8192 MiB).
    const level = preflightLine(preflight(reading(8192, 3000), { kind: 'size', bytes: 2560 * MiB, from: '--need' }));
    assert.equal(level, 'Pre-flight failed: 2.5 GiB more would take GPU 0 to CRITICAL (7.6 GiB of 8.0 GiB).');
    const none = preflightLine(preflight(reading(8192, 6000), { kind: 'none' }));
    assert.match(none, /GPU 0 has 5\.9 GiB free of 8\.0 GiB/);
    for (const l of [fail, pass, margin, level, none]) assertOneLine(l);
  });

  it('pre-flight without a GPU says it was not checked, in one line', () => {
    const long = `libnvidia-ml.so.1 could not be loaded: ${'dlopen failed because a very long path was not found '.repeat(5)}`;
    const line = preflightLine(preflight({ ok: false, reason: long }, { kind: 'size', bytes: GiB, from: '--need' }));
    assert.match(line, /^Pre-flight not checked: No GPU source: libnvidia-ml\.so\.1 could not be loaded/);
    assertOneLine(line);
  });

  it("the spike's verdict: GO or NO-GO, the peak and the distance to WARNING", () => {
    const report = (peakMiB: number): SpikeReport => ({
      status: 'complete',
      problem: null,
      startedAt: '2026-02-21T22:40:28.123Z',
      finishedAt: '2026-02-21T22:41:30.000Z',
      source: { kind: 'nvml', description: 'NVML' },
      driverVersion: '550.54.14',
      gpu: { index: 0, name: 'NVIDIA GeForce RTX 3070', uuid: 'GPU-1', totalBytes: 8192 * MiB },
      timing: DEFAULT_TIMING,
      leaveRunning: false,
      rows: [],
      peak: { usedBytes: peakMiB * MiB, atMs: 1300, sampleCount: 31, durationMs: 3000, rateHz: 10.3, rounds: 3, trace: [] },
      headroomBytes: (8192 - peakMiB) * MiB,
      decision: {
        verdict: peakMiB < 6144 ? 'GO' : 'NO-GO',
        warningBytes: 6144 * MiB,
        marginBytes: (6144 - peakMiB) * MiB,
        level: 'ok',
        thresholds: { warning: 6144 * MiB, critical: 7168 * MiB, emergency: 7782 * MiB },
        thresholdProblem: null,
      },
      servers: [],
      afterStop: null,
      notes: [],
    });
    // The user's measurement: peak 5421 MiB = 5.3 GiB, 723 MiB = 0.7 GiB below the 6144 MiB = 6.0 GiB WARNING.
    assert.equal(spikeVerdictLine(report(5421)), 'Budget spike GO: peak 5.3 GiB, 0.7 GiB below WARNING (6.0 GiB).');
    assert.equal(spikeVerdictLine(report(6656)), 'Budget spike NO-GO: peak 6.5 GiB, 0.5 GiB above WARNING (6.0 GiB).');
    const failed: SpikeReport = {
      ...report(5421),
      status: 'failed',
      decision: null,
      problem: `"ollama" did not answer on 127.0.0.1:11434 within 120 s. ${'x'.repeat(300)}`,
    };
    const line = spikeVerdictLine(failed);
    assert.match(line, /^Budget spike incomplete \(failed\): "ollama" did not answer on 127\.0\.0\.1:11434 within 120 s\.$/);
    for (const l of [spikeVerdictLine(report(5421)), spikeVerdictLine(report(6656)), line]) assertOneLine(l);
  });

  it('echo cancellation "not available": the reason in a few words, not the sound server\'s error', () => {
    // What the check says when pactl cannot reach a server (a 238-character notification before).
    const detail =
      'Not available here: no PulseAudio-compatible sound server answers (Connection failure: Connection refused pa_context_connect() failed: Connection refused), so PipeWire is not running for this user (XDG_RUNTIME_DIR is not set).';
    const line = aecUnavailableLine([{ id: 'aec.server', title: 'PipeWire answers', status: 'unavailable', detail, advice: '' }]);
    assert.equal(line, 'Echo cancellation cannot be checked here: no PulseAudio-compatible sound server answers.');
    assertOneLine(line);
    const other = aecUnavailableLine([
      {
        id: 'aec.server',
        title: '',
        status: 'unavailable',
        detail: 'Not available here: pactl is not installed, so no PulseAudio-compatible sound server can be asked.',
        advice: '',
      },
    ]);
    assert.equal(other, 'Echo cancellation cannot be checked here: pactl is not installed.');
  });

  it("errors: what failed and the error's first sentence", () => {
    const err = new Error(`EACCES: permission denied, open '/home/me/${'deep/'.repeat(40)}report.md'. Check the folder's owner.`);
    const line = errorLine('Saving the spike report', err);
    assert.match(line, /^Saving the spike report failed: EACCES: permission denied/);
    assertOneLine(line);
    assert.equal(errorLine('The pre-flight check', 'timeout'), 'The pre-flight check failed: timeout.');
  });

  it('a fallback step: the question names the level and use; the result the drop', () => {
    // 7578 of 8192 MiB: 7.4 of 8.0 GiB; after the step 5120 MiB = 5.0 GiB.
    const ask = fallbackConfirmLine(
      { gpu: 0, level: 'critical', used: 7578 * MiB, total: 8192 * MiB },
      0,
      `unload Ollama's model ${'llama3.2:3b-instruct-q4_K_M '.repeat(5)}`,
    );
    assert.match(ask, /^GPU 0 is at CRITICAL \(7\.4 GiB of 8\.0 GiB\): run fallback step 1, unload Ollama's model llama3\.2/);
    assert.ok(ask.length < MAX_LINE && ask.endsWith('?'), ask);
    const done = fallbackResultLine({ step: 0, result: 'done', message: 'unloaded llama3.2:3b', gpu: 0, usedBefore: 7578 * MiB, usedAfter: 5120 * MiB });
    assert.equal(done, 'Fallback step 1 done: GPU 0 went from 7.4 GiB to 5.0 GiB used.');
    const failed = fallbackResultLine({
      step: 2,
      result: 'failed',
      message: `ollama did not answer on 127.0.0.1:11434. ${'x '.repeat(200)}`,
      gpu: 0,
      usedBefore: GiB,
      usedAfter: null,
    });
    assert.equal(failed, 'Fallback step 3 failed: ollama did not answer on 127.0.0.1:11434.');
  });

  it('settings problems: the setting named, whatever the number of problems', () => {
    // The problems the settings reader gives for the thresholds a user got wrong (warning above critical, a word for a size).
    const parsed = parseThresholds({ warning: '95%', critical: '90%', emergency: 'lots' }, 'x');
    const [long, hysteresis] = parsed.problems;
    assert.ok(long !== undefined && hysteresis !== undefined, JSON.stringify(parsed.problems));
    // One problem short enough is shown as it is; a longer one by the setting's name.
    assert.equal(settingsProblemsLine([long]), long);
    assert.match(long, /^vramGuard\.thresholds: emergency: "lots" is not a size/);
    const one = settingsProblemsLine([`${long} The setting is read again when it changes, in this window and every other.`]);
    assert.equal(one, 'A setting has a problem (the details say what is used instead): vramGuard.thresholds.');
    const two = settingsProblemsLine([long, hysteresis]);
    assert.equal(two, '2 settings have problems (the details say what is used instead): vramGuard.thresholds, vramGuard.hysteresis.');
    for (const l of [one, two]) assertOneLine(l);
  });

  it('any other text keeps its first sentence, under the limit', () => {
    assert.equal(
      notificationLine('The exporter could not listen on 127.0.0.1:9400: EADDRINUSE. Choose another port.'),
      'The exporter could not listen on 127.0.0.1:9400: EADDRINUSE.',
    );
    assertOneLine(notificationLine('word '.repeat(100)));
    assert.equal(clip('a  b\n c'), 'a b c');
  });
});
