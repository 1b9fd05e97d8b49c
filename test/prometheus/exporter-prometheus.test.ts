/**
 * A real Prometheus scraping two `vram-guard exporter` processes (two "machines" on fake NVML, one
 * with a llama-server task) and an emulated dcgm-exporter: what Prometheus stores is what the fake
 * drivers hold, with the task attributed; a stopped exporter goes stale.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { MiB, repoRoot } from '../helpers/fake-nvml.ts';
import { DGX_A100, GPU_DESK, GPU_LAB } from '../helpers/fleet-machines.ts';
import { PROMTOOL, startFleet, type FleetHarness, type PromSample } from '../helpers/prometheus-harness.ts';

const num = (s: PromSample | undefined) => Number(s?.value[1]);
const byHostGpu = (r: PromSample[], hostname: string, gpu: number, hostLabel = 'hostname') =>
  r.find((s) => s.metric[hostLabel] === hostname && s.metric.gpu === String(gpu));

describe('exporter scraped by a real Prometheus', () => {
  let fleet: FleetHarness;
  before(async () => {
    fleet = await startFleet();
  });
  after(async () => {
    await fleet?.stop();
  });

  it('Prometheus scrapes both exporters and the dcgm-exporter endpoint', async () => {
    const up = await fleet.query('up');
    const targets = Object.fromEntries(up.map((s) => [s.metric.instance, [s.metric.job, s.value[1]]]));
    assert.deepEqual(targets, {
      [fleet.exporter('gpu-desk').target]: ['vram-guard', '1'],
      [fleet.exporter('gpu-lab').target]: ['vram-guard', '1'],
      [fleet.dcgm.target]: ['dcgm', '1'],
    });
  });

  it('stores every GPU figure as each fake driver holds it', async () => {
    const metrics = ['used', 'total', 'free', 'reserved'] as const;
    for (const host of [GPU_DESK, GPU_LAB]) {
      const state = await fleet.exporter(host.hostname).readState();
      for (const [i, d] of state.devices.entries()) {
        const expected = { used: d.used!, total: d.total!, reserved: d.reserved ?? 0, free: d.total! - d.used! - (d.reserved ?? 0) };
        for (const m of metrics) {
          const got = byHostGpu(await fleet.query(`vram_guard_gpu_memory_${m}_bytes`), host.hostname, i);
          assert.equal(num(got), expected[m], `${host.hostname} GPU ${i} ${m}`);
          assert.equal(got?.metric.uuid, d.uuid);
          assert.equal(got?.metric.name, d.name);
        }
        const dcgmUsed = byHostGpu(await fleet.query('DCGM_FI_DEV_FB_USED'), host.hostname, i, 'Hostname');
        assert.equal(num(dcgmUsed), Math.floor(d.used! / MiB), `${host.hostname} GPU ${i} DCGM_FI_DEV_FB_USED in MiB`);
        assert.equal(dcgmUsed?.metric.UUID, d.uuid);
        assert.equal(dcgmUsed?.metric.modelName, d.name);
      }
    }
  });

  it('the llama-server task holds its memory under its task and server labels, and says it is ready', async () => {
    const desk = fleet.exporter('gpu-desk');
    const server = desk.server!;
    const state = await desk.readState();
    const held = state.devices[0]!.processes!.find((p) => p.pid === server.pid);
    assert.ok(held && held.used !== 'na', 'the emulated llama-server put its memory in the fake driver');
    assert.equal(held.used, GPU_DESK.server!.expectedMiB * MiB);
    const series = await fleet.query(`vram_guard_process_memory_used_bytes{hostname="gpu-desk",pid="${server.pid}"}`);
    assert.deepEqual(
      series.map((s) => [s.metric.task, s.metric.server, s.metric.process, num(s)]),
      [['llama-chat', 'llama-server', 'llama-server', held.used]],
    );
    // The desktop's processes belong to no task.
    const xorg = await fleet.query('vram_guard_process_memory_used_bytes{hostname="gpu-desk",pid="1187"}');
    assert.deepEqual(
      xorg.map((s) => [s.metric.task, s.metric.process]),
      [[undefined, '/usr/lib/xorg/Xorg']],
    );
    const task = await fleet.query('vram_guard_task_memory_used_bytes{hostname="gpu-desk"}');
    assert.deepEqual(
      task.map((s) => [s.metric.task, s.metric.server, num(s)]),
      [['llama-chat', 'llama-server', held.used]],
    );
    const ready = await fleet.query('vram_guard_server_ready');
    assert.deepEqual(
      ready.map((s) => [s.metric.hostname, s.metric.task, num(s)]),
      [['gpu-desk', 'llama-chat', 1]],
    );
    // What the server itself reports: the context it was started with (-c 4096).
    const ctx = await fleet.query('vram_guard_server_context_length{task="llama-chat"}');
    assert.deepEqual(ctx.map(num), [4096]);
  });

  it("levels follow each host's thresholds: the 4090 at 90.3 % is CRITICAL, the rest OK", async () => {
    // 22180 MiB of 24564 MiB = 90.3 %, past the default critical threshold of 90 %.
    const levels = await fleet.query('vram_guard_gpu_level');
    const table = Object.fromEntries(levels.map((s) => [`${s.metric.hostname}/${s.metric.gpu}`, num(s)]));
    assert.deepEqual(table, { 'gpu-desk/0': 0, 'gpu-lab/0': 2, 'gpu-lab/1': 0 });
    const critical = byHostGpu(await fleet.query('vram_guard_gpu_threshold_bytes{level="critical"}'), 'gpu-lab', 0);
    assert.equal(num(critical), Math.round(0.9 * 24564 * MiB));
    const residual = byHostGpu(await fleet.query('vram_guard_gpu_residual_bytes'), 'gpu-lab', 0);
    assert.equal(num(residual), 180 * MiB);
  });

  it("the dcgm-exporter endpoint's gauges arrive with its own labels", async () => {
    const used = await fleet.query('DCGM_FI_DEV_FB_USED{Hostname="dgx-a100"}');
    assert.deepEqual(
      used.map((s) => [s.metric.gpu, s.metric.UUID, s.metric.pci_bus_id, s.metric.device, s.metric.modelName, s.metric.DCGM_FI_DRIVER_VERSION, num(s)]).sort(),
      DGX_A100.gpus.map((g) => [String(g.index), g.uuid, g.pciBusId, `nvidia${g.index}`, g.modelName, DGX_A100.driverVersion, g.fbUsedMiB]).sort(),
    );
  });

  it('a changed GPU reaches Prometheus within a few scrapes', async () => {
    const lab = fleet.exporter('gpu-lab');
    const state = await lab.readState();
    state.devices[1]!.used = 10_000 * MiB;
    state.devices[1]!.processes = [{ pid: 31400, used: 10_000 * MiB, name: 'jupyter-kernel' }];
    await lab.nvml.write(state);
    await fleet.waitFor(
      'vram_guard_gpu_memory_used_bytes{hostname="gpu-lab",gpu="1"}',
      (r) => num(r[0]) === 10_000 * MiB,
      'the new figure in Prometheus',
      10_000,
    );
  });

  it('every query of the Grafana dashboard in docs/ returns series from this fleet', async () => {
    const dashboard = JSON.parse(await readFile(join(repoRoot, 'docs', 'exporter', 'grafana-dashboard.json'), 'utf8')) as {
      panels: Array<{ title: string; targets: Array<{ expr: string }> }>;
    };
    const exprs = dashboard.panels.flatMap((p) => p.targets.map((t) => ({ panel: p.title, expr: t.expr })));
    assert.ok(exprs.length >= 10, `${exprs.length} queries`);
    for (const { panel, expr } of exprs) {
      // What Grafana substitutes: the "All" host regex and its rate interval.
      const promql = expr.replaceAll('$hostname', '.*').replaceAll('$__rate_interval', '1m');
      const result = await fleet.query(promql);
      assert.ok(result.length > 0, `"${panel}": ${promql} returned nothing`);
    }
    const dcgmOnly = await fleet.query('DCGM_FI_DEV_FB_USED unless on (instance) vram_guard_source_up');
    assert.deepEqual([...new Set(dcgmOnly.map((s) => s.metric.Hostname))], ['dgx-a100'], 'the dcgm panel shows the dcgm host only');
  });

  it('the scrape configuration in docs/ is valid for promtool', () => {
    const r = spawnSync(PROMTOOL, ['check', 'config', join(repoRoot, 'docs', 'exporter', 'prometheus.yml')], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /SUCCESS/);
  });

  it('a stopped exporter turns its host stale: up 0, no current figures', async () => {
    const lab = fleet.exporter('gpu-lab');
    await lab.stop();
    await fleet.waitFor(`up{instance="${lab.target}"}`, (r) => r.length === 1 && r[0]!.value[1] === '0', 'up to turn 0', 10_000);
    await fleet.waitFor('vram_guard_gpu_memory_used_bytes{hostname="gpu-lab"}', (r) => r.length === 0, 'its series to go stale', 10_000);
    const desk = await fleet.query('vram_guard_gpu_memory_used_bytes{hostname="gpu-desk"}');
    assert.equal(desk.length, 1, 'the other host is still there');
  });
});
