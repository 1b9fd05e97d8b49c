/**
 * The fleet read back from a real Prometheus (Debian's package) scraping two `vram-guard exporter`
 * processes over different fake-NVML states and an emulated dcgm-exporter: `vram-guard fleet` (the
 * built CLI, run as a process) shows the three hosts with the figures the fake states and the
 * dcgm fixture hold, their levels and holders; `--need 20GiB` ranks the GPUs; a token reaches
 * Prometheus as a bearer header; a stopped exporter turns its host stale.
 *
 *   npm run build && node --test test/prometheus/fleet.test.ts
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createServer, request as httpRequest, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { DGX_A100, GPU_DESK, GPU_LAB } from '../helpers/fleet-machines.ts';
import { repoRoot, MiB, type FakeDevice } from '../helpers/fake-nvml.ts';
import { startFleet, type FleetHarness } from '../helpers/prometheus-harness.ts';

const CLI = join(repoRoot, 'dist', 'cli.cjs');

interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

function cli(args: string[], env: Record<string, string> = {}): Promise<CliRun> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { env: { ...process.env, ...env }, timeout: 30_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr });
    });
  });
}

interface JsonGpu {
  index: number;
  name: string;
  usedBytes: number;
  totalBytes: number;
  level: string;
  thresholdsFrom: string;
  holders: Array<{ label: string; kind: string; bytes: number }>;
}
interface JsonHost {
  name: string;
  gpus: JsonGpu[];
  stale: { since: number | null } | null;
}
interface JsonPlace {
  host: string;
  gpu: number;
  verdict: string;
  roomAfterBytes: number;
}
interface FleetJson {
  hosts: JsonHost[];
  sources: Array<{ ok: boolean; error?: string }>;
  need: { places: JsonPlace[] } | null;
}

let fleet: FleetHarness;

before(async () => {
  fleet = await startFleet();
  // The exporters' first samples and the attributed task are in Prometheus.
  await fleet.waitFor('vram_guard_process_memory_used_bytes{task="llama-chat"}', (r) => r.length > 0, 'the llama-chat task to be scraped');
});
after(async () => {
  await fleet?.stop();
});

async function fleetJson(args: string[] = [], env: Record<string, string> = {}): Promise<FleetJson> {
  const run = await cli(['fleet', '--prometheus', fleet.prometheusUrl, '--json', ...args], env);
  assert.ok(run.code === 0 || run.code === 1, `vram-guard fleet exited ${run.code}: ${run.stderr}`);
  return JSON.parse(run.stdout) as FleetJson;
}

const host = (json: FleetJson, name: string): JsonHost => {
  const h = json.hosts.find((x) => x.name === name);
  assert.ok(h, `no host ${name} in ${json.hosts.map((x) => x.name).join(', ')}`);
  return h;
};

test('after a scrape, vram-guard fleet shows the three hosts with their figures, levels and holders', async () => {
  const json = await fleetJson();
  assert.deepEqual(
    json.sources.map((s) => s.ok),
    [true],
  );
  assert.deepEqual(json.hosts.map((h) => h.name).sort(), ['dgx-a100', 'gpu-desk', 'gpu-lab']);
  for (const h of json.hosts) assert.equal(h.stale, null, `${h.name} is stale`);

  // gpu-desk: the fake state as the exporter reads it now (the emulated llama-server added its process).
  const desk = await fleet.exporter('gpu-desk').readState();
  const deskGpu = host(json, 'gpu-desk').gpus[0]!;
  assert.equal(deskGpu.name, desk.devices[0]!.name);
  assert.equal(deskGpu.usedBytes, desk.devices[0]!.used);
  assert.equal(deskGpu.totalBytes, desk.devices[0]!.total);
  assert.equal(deskGpu.level, 'ok');
  assert.equal(deskGpu.thresholdsFrom, 'host');
  assert.deepEqual(deskGpu.holders[0], { label: GPU_DESK.server!.name, kind: 'task', bytes: GPU_DESK.server!.expectedMiB * MiB, processes: 1 });

  const lab = host(json, 'gpu-lab');
  const labState = GPU_LAB.state.devices;
  assert.deepEqual(
    lab.gpus.map((g) => [g.index, g.usedBytes, g.totalBytes, g.level]),
    [
      [0, labState[0]!.used, labState[0]!.total, 'critical'],
      [1, labState[1]!.used, labState[1]!.total, 'ok'],
    ],
  );
  assert.deepEqual(
    lab.gpus[0]!.holders.map((x) => [x.label, x.kind, x.bytes]),
    [['python3', 'process', labState[0]!.processes![0]!.used]],
  );

  const dgx = host(json, 'dgx-a100');
  assert.deepEqual(
    dgx.gpus.map((g) => [g.index, g.name, g.usedBytes, g.totalBytes, g.thresholdsFrom]),
    DGX_A100.gpus.map((g) => [g.index, g.modelName, g.fbUsedMiB * MiB, (g.fbUsedMiB + g.fbFreeMiB + g.fbReservedMiB) * MiB, 'ours']),
  );

  const text = await cli(['fleet', '--prometheus', fleet.prometheusUrl]);
  assert.equal(text.code, 0, text.stderr);
  assert.match(text.stdout, /gpu-lab\s+0\s+NVIDIA GeForce RTX 4090\s+21\.7 GiB \/ 24\.0 GiB \(90%\)\s+CRITICAL\s+python3 21\.5 GiB/);
  assert.match(text.stdout, /gpu-desk\s+0\s+.*llama-chat \(task\) 2\.6 GiB/);
});

test('where does 20 GiB fit: the GPUs ranked by the room left after it', async () => {
  const json = await fleetJson(['--need', '20GiB']);
  const need = 20 * 1024 * MiB;
  // Free memory from the fixtures: dcgm's FB_FREE, the fake states' total − used − reserved (NVML's free).
  const nvmlFree = (d: FakeDevice) => d.total! - d.used! - (d.reserved ?? 0);
  const free = new Map<string, number>([
    ['dgx-a100/0', DGX_A100.gpus[0]!.fbFreeMiB * MiB],
    ['dgx-a100/1', DGX_A100.gpus[1]!.fbFreeMiB * MiB],
    ['gpu-lab/0', nvmlFree(GPU_LAB.state.devices[0]!)],
    ['gpu-lab/1', nvmlFree(GPU_LAB.state.devices[1]!)],
  ]);
  free.set('gpu-desk/0', nvmlFree((await fleet.exporter('gpu-desk').readState()).devices[0]!));
  const places = json.need!.places;
  assert.deepEqual(
    places.map((p) => `${p.host}/${p.gpu}`),
    ['dgx-a100/1', 'dgx-a100/0', 'gpu-lab/1', 'gpu-desk/0', 'gpu-lab/0'],
  );
  for (const p of places) assert.equal(p.roomAfterBytes, free.get(`${p.host}/${p.gpu}`)! - need, `${p.host}/${p.gpu}`);
  // gpu-lab GPU 1 has room, but 2 GiB + 20 GiB takes it past its critical threshold: tight.
  assert.deepEqual(
    places.map((p) => p.verdict),
    ['fits', 'fits', 'tight', 'no room', 'no room'],
  );

  const none = await cli(['fleet', '--prometheus', fleet.prometheusUrl, '--need', '100GiB']);
  assert.equal(none.code, 1, 'no GPU has 100 GiB: exit 1');
  assert.match(none.stdout, /Where does 100\.0 GiB fit\?/);
});

test('a token reaches Prometheus as a bearer header', async () => {
  const seen: IncomingHttpHeaders[] = [];
  const target = new URL(fleet.prometheusUrl);
  const proxy: Server = createServer((req, res) => {
    seen.push(req.headers);
    const upstream = httpRequest({ host: target.hostname, port: target.port, path: req.url, method: req.method, headers: req.headers }, (up) => {
      res.writeHead(up.statusCode ?? 502, up.headers);
      up.pipe(res);
    });
    upstream.on('error', () => res.destroy());
    req.pipe(upstream);
  });
  await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
  try {
    const url = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
    const run = await cli(['fleet', '--prometheus', url, '--json'], { VRAM_GUARD_PROMETHEUS_TOKEN: 's3cret-token' });
    assert.equal(run.code, 0, run.stderr);
    assert.equal((JSON.parse(run.stdout) as FleetJson).hosts.length, 3);
    assert.ok(seen.length >= 3, `the proxy saw ${seen.length} requests`);
    for (const h of seen) assert.equal(h.authorization, 'Bearer s3cret-token');
  } finally {
    await new Promise((r) => proxy.close(r));
  }
});

test('stopping an exporter turns its host stale, with when it last had data', async () => {
  const lab = fleet.exporter('gpu-lab');
  const stoppedAt = Date.now();
  await lab.stop();
  await fleet.waitFor(`up{instance="${lab.target}"}`, (r) => r[0]?.value[1] === '0', 'Prometheus to see gpu-lab down');
  await fleet.waitFor(`vram_guard_gpu_memory_used_bytes{hostname="gpu-lab"}`, (r) => r.length === 0, "gpu-lab's series to go stale");
  const json = await fleetJson();
  const stale = host(json, 'gpu-lab');
  assert.ok(stale.stale, 'gpu-lab is not stale');
  const since = stale.stale.since!;
  // Its last sample was taken within a few scrape intervals before the exporter stopped.
  assert.ok(
    since <= stoppedAt + 1000 && since >= stoppedAt - 5000,
    `no data since ${new Date(since).toISOString()}, stopped at ${new Date(stoppedAt).toISOString()}`,
  );
  // Its last figures are still shown; the others stay live.
  assert.equal(stale.gpus[0]!.usedBytes, GPU_LAB.state.devices[0]!.used);
  for (const name of ['gpu-desk', 'dgx-a100']) assert.equal(host(json, name).stale, null, `${name} turned stale too`);
  const text = await cli(['fleet', '--prometheus', fleet.prometheusUrl]);
  assert.match(text.stdout, /gpu-lab\s+0\s+.*STALE.*no data since \d\d:\d\d:\d\d/);
});
