/**
 * The exporter names the GPU processes no task owns: vram_guard_process_info carries what /proc says
 * (kind, role, model, port, unit, who started it) for a real process under llama-server's name.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startExporter, type RunningExporter } from '../../../src/core/exporter/exporter.ts';
import { parseListenAddress } from '../../../src/core/exporter/listen-address.ts';
import { openNvml } from '../../../src/core/gpu/nvml-source.ts';
import { Watcher } from '../../../src/core/watch/watcher.ts';
import { buildFakeNvml, FakeNvmlState, GiB, MiB } from '../../helpers/fake-nvml.ts';
import { startAs, type StartedProcess } from '../../helpers/gpu-process.ts';
import { parsePrometheusText, seriesOf } from '../../helpers/prom-text.ts';
import { pollUntil } from '../../helpers/servers.ts';
import { DEFAULT_THRESHOLDS } from '../../../src/core/watch/thresholds.ts';

describe('exporter: what each GPU process is', () => {
  let exporter: RunningExporter;
  let watcher: Watcher;
  let server: StartedProcess;

  before(async () => {
    server = await startAs('llama-server', ['-m', '/models/qwen2.5-7b-q4_k_m.gguf', '-c', '8192']);
    const lib = await buildFakeNvml();
    const fake = await FakeNvmlState.create({
      driver: '550.54.14',
      devices: [
        {
          name: 'NVIDIA GeForce RTX 3070',
          uuid: 'GPU-3070',
          total: 8 * GiB,
          used: 5000 * MiB,
          processes: [{ pid: server.pid, used: 4500 * MiB, name: 'llama-server' }],
        },
      ],
    });
    process.env.FAKE_NVML_STATE = fake.path;
    watcher = new Watcher({
      openSource: () => openNvml({ libraryPath: lib, platform: 'darwin' }),
      thresholds: DEFAULT_THRESHOLDS,
      intervalMs: 3_600_000,
      adaptive: { enabled: false, fastIntervalMs: 3_600_000, calmIntervalMs: 3_600_000, margin: { kind: 'percent', percent: 5 } },
    });
    const address = parseListenAddress('127.0.0.1:0');
    assert.ok(!('error' in address));
    exporter = await startExporter({ watcher, hostname: 'unit-box', address, owners: () => [] });
    watcher.start();
    await pollUntil(() => watcher.latest, 'the first sample');
    await exporter.feed.refresh();
  });

  after(async () => {
    await exporter?.close();
    await watcher?.stop();
    server?.stop();
  });

  it('labels a llama-server started outside VS Code with its kind, model and port', async () => {
    const m = parsePrometheusText(await (await fetch(exporter.url)).text());
    const info = seriesOf(m, 'vram_guard_process_info', { pid: String(server.pid) });
    assert.deepEqual(
      info.map((s) => [s.value, s.labels.kind, s.labels.role ?? '', s.labels.model, s.labels.port, s.labels.started_by]),
      [[1, 'llama-server', '', '/models/qwen2.5-7b-q4_k_m.gguf', String(server.port), 'outside']],
    );
  });
});
