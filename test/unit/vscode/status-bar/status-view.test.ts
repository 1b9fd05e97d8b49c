/** What the status bar shows: text, colour, tooltip, for each state. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { GpuSource } from '../../../../src/core/gpu/types.ts';
import { emptyDevice } from '../../../../src/core/gpu/types.ts';
import { GiB, MiB } from '../../../../src/core/units.ts';
import type { Level } from '../../../../src/core/watch/levels.ts';
import type { WatchedSample } from '../../../../src/core/watch/watcher.ts';
import { statusView } from '../../../../src/vscode/status-bar/status-view.ts';

const source = (kind: GpuSource['kind'] = 'nvml'): GpuSource => ({
  kind,
  description: kind === 'replay' ? 'replay of a recorded trace (simulated)' : 'NVML 12.550.54.14, driver 550.54.14',
  sample: async () => {
    throw new Error('unused');
  },
  dispose: async () => {},
});

function watched(used: number[], levels: Level[], total = 8 * GiB): WatchedSample {
  const devices = used.map((u, index) => {
    const d = emptyDevice(index);
    d.name = 'NVIDIA GeForce RTX 3070';
    d.uuid = `GPU-${index}`;
    d.memory = { total, used: u, free: total - u, reserved: 0 };
    d.processes = [{ pid: 4242, name: '/usr/local/bin/ollama', usedBytes: 2838 * MiB, kind: 'compute' }];
    return d;
  });
  const t = { warning: 6144 * MiB, critical: 7168 * MiB, emergency: 7782 * MiB, hysteresis: 128 * MiB };
  return { sample: { source: 'nvml', timestamp: 0, driverVersion: '550.54.14', sourceVersion: null, devices }, levels, thresholds: devices.map(() => t) };
}

const ready = (kind?: GpuSource['kind']) => ({ state: 'ready' as const, source: source(kind) });

describe('status bar view', () => {
  it('shows used/total in GB with the chip icon and no colour at OK', () => {
    const v = statusView({ status: ready(), latest: watched([5418 * MiB], ['ok']), gpu: 'worst', hideWhenNoGpu: false });
    assert.equal(v.text, '$(chip) 5.3/8.0 GiB');
    assert.equal(v.background, null);
    assert.match(v.tooltip, /\*\*GPU 0 · NVIDIA GeForce RTX 3070\*\* — OK/);
    assert.match(v.tooltip, /5418 MiB of 8192 MiB used \(66\.1%\)/);
    assert.match(v.tooltip, /ollama \(PID 4242\) \| 2838 MiB/);
    assert.match(v.tooltip, /WARNING 6144 MiB · CRITICAL 7168 MiB · EMERGENCY 7782 MiB/);
  });

  it('the tooltip says how each GPU is judged over time, before the source', () => {
    const trendLines = ['GPU 0: leaking 120 MiB/h since 09:00 in llama-server (PID 5150) → full at about 14:30'];
    const v = statusView({ status: ready(), latest: watched([5418 * MiB], ['ok']), gpu: 'worst', hideWhenNoGpu: false, trendLines });
    assert.match(v.tooltip, /\n\nGPU 0: leaking 120 MiB\/h since 09:00 in llama-server \(PID 5150\) → full at about 14:30\n\n---\n\nSource: NVML/);
  });

  it('a distinct icon at WARNING, the warning background at CRITICAL, the error background at EMERGENCY', () => {
    const at = (level: Level) => statusView({ status: ready(), latest: watched([7000 * MiB], [level]), gpu: 'worst', hideWhenNoGpu: false });
    assert.equal(at('warning').text, '$(warning) 6.8/8.0 GiB');
    assert.equal(at('warning').background, null);
    assert.equal(at('critical').background, 'statusBarItem.warningBackground');
    assert.equal(at('emergency').background, 'statusBarItem.errorBackground');
  });

  it('shows the worst GPU, or the one chosen', () => {
    const latest = watched([7300 * MiB, 2 * GiB], ['critical', 'ok']);
    latest.sample.devices[1]!.memory!.total = 24 * GiB;
    assert.equal(statusView({ status: ready(), latest, gpu: 'worst', hideWhenNoGpu: false }).text, '$(chip) 7.1/8.0 GiB');
    assert.equal(statusView({ status: ready(), latest, gpu: 1, hideWhenNoGpu: false }).text, '$(chip) 2.0/24.0 GiB');
  });

  it('the tooltip says what each process is when /proc was read', () => {
    const plain = statusView({ status: ready(), latest: watched([5418 * MiB], ['ok']), gpu: 'worst', hideWhenNoGpu: false });
    assert.match(plain.tooltip, /\| ollama \(PID 4242\) \| 2838 MiB \|/);
    const named = statusView({
      status: ready(),
      latest: watched([5418 * MiB], ['ok']),
      gpu: 'worst',
      hideWhenNoGpu: false,
      processKinds: new Map([[4242, 'ollama serve · :11434 · ollama.service']]),
    });
    assert.match(named.tooltip, /\| ollama \(PID 4242\) — ollama serve · :11434 · ollama\.service \| 2838 MiB \|/);
  });

  it('no GPU: a quiet item whose tooltip gives the reason, hideable', () => {
    const status = { state: 'none' as const, reason: 'no NVML: libnvidia-ml.so.1 not found; no nvidia-smi: not on PATH' };
    const v = statusView({ status, latest: null, gpu: 'worst', hideWhenNoGpu: false });
    assert.equal(v.text, '$(chip) no GPU');
    assert.equal(v.background, null);
    assert.equal(v.visible, true);
    assert.match(v.tooltip, /libnvidia-ml\.so\.1 not found; no nvidia-smi: not on PATH/);
    assert.equal(statusView({ status, latest: null, gpu: 'worst', hideWhenNoGpu: true }).visible, false);
  });

  it('marks a simulated GPU as simulated', () => {
    const v = statusView({ status: ready('replay'), latest: watched([3.74 * GiB], ['critical'], 4.09 * GiB), gpu: 'worst', hideWhenNoGpu: false });
    assert.equal(v.text, '$(chip) sim 3.7/4.1 GiB');
    assert.match(v.tooltip, /\*\*Simulated GPU\*\*/);
  });

  it('a GPU in error says so in the text', () => {
    const latest = watched([0], ['ok']);
    latest.sample.devices[0]!.memory = null;
    latest.sample.devices[0]!.error = { code: 'GPU_IS_LOST', message: 'memory: GPU is lost' };
    const v = statusView({ status: ready(), latest, gpu: 'worst', hideWhenNoGpu: false });
    assert.equal(v.text, '$(error) GPU 0 GPU_IS_LOST');
    assert.match(v.tooltip, /error GPU_IS_LOST/);
  });
});
