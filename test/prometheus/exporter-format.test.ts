/**
 * The built `vram-guard exporter` as a user runs it: its output read back by an independent
 * text-format parser and linted by promtool (Debian's prometheus package), and where it listens by
 * default (this machine only).
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import { stopGroup, type Started } from '../../scripts/vscode/processes.ts';
import { EXPORTER_HELP, listenAddressOf } from '../../src/cli/exporter.ts';
import { renderDcgm } from '../fixtures/dcgm-exporter/dcgm-exporter.ts';
import { buildFakeNvml, FakeNvmlState, MiB } from '../helpers/fake-nvml.ts';
import { DGX_A100, GPU_LAB } from '../helpers/fleet-machines.ts';
import { startCliExporter } from '../helpers/prometheus-harness.ts';
import { parsePrometheusText, promtoolCheckMetrics, seriesOf } from '../helpers/prom-text.ts';

const EXPECTED_FAMILIES = [
  'vram_guard_gpu_memory_used_bytes',
  'vram_guard_gpu_memory_free_bytes',
  'vram_guard_gpu_memory_total_bytes',
  'vram_guard_gpu_memory_reserved_bytes',
  'vram_guard_gpu_level',
  'vram_guard_gpu_threshold_bytes',
  'vram_guard_gpu_residual_bytes',
  'vram_guard_process_memory_used_bytes',
  'vram_guard_source_up',
  'vram_guard_sample_age_seconds',
  'vram_guard_sample_errors_total',
  'DCGM_FI_DEV_FB_FREE',
  'DCGM_FI_DEV_FB_USED',
  'DCGM_FI_DEV_FB_RESERVED',
];

/** Fetches until the exporter has a GPU sample to show. */
async function scrapeWithSample(url: string): Promise<string> {
  for (let i = 0; i < 100; i++) {
    const text = await (await fetch(url)).text();
    if (text.includes('vram_guard_gpu_memory_used_bytes{')) return text;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${url} never showed a GPU`);
}

describe("the exporter's text format", () => {
  const started: Started[] = [];
  let withDcgm: string;
  let withoutDcgm: string;

  before(async () => {
    const lib = await buildFakeNvml();
    const nvml = await FakeNvmlState.create(GPU_LAB.state);
    const env = { ...process.env, FAKE_NVML_STATE: nvml.path };
    const common = ['--hostname', 'gpu-lab', '--source', 'nvml', '--nvml-library', lib, '--servers-dir', '/nonexistent/servers'];
    const a = await startCliExporter('exporter (dcgm names)', ['--listen', '127.0.0.1:0', ...common], env);
    started.push(a.started);
    const b = await startCliExporter('exporter (no dcgm names)', ['--listen', '127.0.0.1:0', '--no-dcgm-names', ...common], env);
    started.push(b.started);
    withDcgm = await scrapeWithSample(a.url);
    withoutDcgm = await scrapeWithSample(b.url);
  });

  after(async () => {
    await Promise.all(started.map((s) => stopGroup(s, 3000)));
  });

  it('parses with a Prometheus text-format parser: every family typed and described, values as the fake holds', async () => {
    const families = parsePrometheusText(withDcgm);
    for (const name of EXPECTED_FAMILIES) {
      const f = families.find((x) => x.name === name);
      assert.ok(f, `${name} is served`);
      assert.ok(f.help.length > 10, `${name} has a HELP line`);
      assert.match(f.type, /^(GAUGE|COUNTER)$/);
    }
    const used = seriesOf(families, 'vram_guard_gpu_memory_used_bytes');
    assert.deepEqual(
      used.map((s) => [s.labels.gpu, s.labels.hostname, s.labels.name, s.value]),
      GPU_LAB.state.devices.map((d, i) => [String(i), 'gpu-lab', d.name, d.used]),
    );
    const fb = seriesOf(families, 'DCGM_FI_DEV_FB_USED');
    assert.deepEqual(
      fb.map((s) => Object.keys(s.labels)),
      GPU_LAB.state.devices.map(() => ['gpu', 'UUID', 'pci_bus_id', 'device', 'modelName', 'Hostname', 'DCGM_FI_DRIVER_VERSION']),
      "dcgm-exporter's labels, in its order",
    );
    assert.deepEqual(
      fb.map((s) => s.value),
      GPU_LAB.state.devices.map((d) => Math.floor(d.used! / MiB)),
    );
  });

  it("passes promtool check metrics; with dcgm-exporter's names, only its own camelCase label is flagged", async () => {
    const clean = await promtoolCheckMetrics(withoutDcgm);
    assert.deepEqual(clean, { code: 0, output: '' });
    const compat = await promtoolCheckMetrics(withDcgm);
    const findings = [...new Set(compat.output.trim().split('\n'))].sort();
    const modelName = (name: string) => `${name} label names should be written in 'snake_case' not 'camelCase'`;
    assert.deepEqual(findings, ['DCGM_FI_DEV_FB_FREE', 'DCGM_FI_DEV_FB_RESERVED', 'DCGM_FI_DEV_FB_USED'].map(modelName));
    // dcgm-exporter's own output gets the same finding from promtool: the label is its, kept so its dashboards work.
    const dcgm = await promtoolCheckMetrics(renderDcgm(DGX_A100));
    for (const name of ['DCGM_FI_DEV_FB_FREE', 'DCGM_FI_DEV_FB_RESERVED', 'DCGM_FI_DEV_FB_USED']) assert.ok(dcgm.output.includes(modelName(name)), dcgm.output);
  });
});

describe('where the exporter listens', () => {
  it('by default on 127.0.0.1:9835, this machine only, never every interface', () => {
    // What the command resolves when --listen is not given, without binding the machine's port 9835.
    assert.deepEqual(listenAddressOf(undefined), { host: '127.0.0.1', port: 9835, loopback: true });
    assert.match(EXPORTER_HELP, /--listen HOST:PORT\s+where to listen \(default 127\.0\.0\.1:9835: this machine only\)/);
  });

  it('on that address, the socket is bound to 127.0.0.1 only: nothing on every interface, nothing on IPv6', async (t) => {
    const lib = await buildFakeNvml();
    const nvml = await FakeNvmlState.create(GPU_LAB.state);
    // The default's host with any free port: the same bind as the default, on a port no other run holds.
    const e = await startCliExporter(
      'exporter (loopback address)',
      ['--listen', '127.0.0.1:0', '--source', 'nvml', '--nvml-library', lib, '--servers-dir', '/nonexistent/servers'],
      {
        ...process.env,
        FAKE_NVML_STATE: nvml.path,
      },
    );
    t.after(() => stopGroup(e.started, 3000));
    const bound = Number(new URL(e.url).port);
    assert.ok(bound > 0, e.url);
    assert.match(e.output(), /this machine only/);
    // The kernel's own table of listening sockets: 127.0.0.1 is 0100007F, the port in hex, LISTEN is 0A.
    const port = `:${bound.toString(16).toUpperCase().padStart(4, '0')}`;
    const tcp = await readFile('/proc/net/tcp', 'utf8');
    const listening = tcp
      .split('\n')
      .slice(1)
      .map((l) => l.trim().split(/\s+/))
      .filter((f) => f[3] === '0A' && f[1]?.endsWith(port));
    assert.deepEqual(
      listening.map((f) => f[1]),
      [`0100007F${port}`],
    );
    const tcp6 = await readFile('/proc/net/tcp6', 'utf8').catch(() => '');
    assert.ok(!tcp6.split('\n').some((l) => l.includes(`${port} `) && l.includes(' 0A ')), 'nothing on IPv6 either');
    assert.equal((await fetch(e.url)).status, 200);
  });
});
