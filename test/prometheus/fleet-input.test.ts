/**
 * Implausible and hostile exporter pages read back through a real Prometheus (Debian's package):
 * beside the test fleet, Prometheus scrapes pages this test serves — a GPU with −5 GiB used, one
 * with NaN used, one GPU reported by two series that disagree, a host whose labels carry terminal
 * escapes. `vram-guard fleet` (the built CLI) leaves the impossible GPUs out and names them with
 * their reasons, ranks the others, and prints the labels escaped.
 *
 *   npm run build && node --test test/prometheus/fleet-input.test.ts
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { runCli } from '../helpers/cli-run.ts';
import { GiB } from '../helpers/fake-nvml.ts';
import { DGX_A100 } from '../helpers/fleet-machines.ts';
import { startFleet, type FleetHarness } from '../helpers/prometheus-harness.ts';

const EVIL_HOST = 'evil\x1b]0;pwned\x07\rforged';

/** The pages, as a VRAM Guard exporter would write them (metric names and labels). */
const PAGES: Record<string, string> = {
  liar: [
    `vram_guard_gpu_memory_used_bytes{gpu="0",uuid="GPU-liar",name="NVIDIA GeForce RTX 4090",hostname="liar"} ${-5 * GiB}`,
    `vram_guard_gpu_memory_total_bytes{gpu="0",uuid="GPU-liar",name="NVIDIA GeForce RTX 4090",hostname="liar"} ${24 * GiB}`,
    `vram_guard_gpu_memory_free_bytes{gpu="0",hostname="liar"} ${29 * GiB}`,
  ].join('\n'),
  nan: [
    'vram_guard_gpu_memory_used_bytes{gpu="0",uuid="GPU-nan",name="NVIDIA GeForce RTX 4090",hostname="nan-host"} NaN',
    `vram_guard_gpu_memory_total_bytes{gpu="0",uuid="GPU-nan",name="NVIDIA GeForce RTX 4090",hostname="nan-host"} ${24 * GiB}`,
  ].join('\n'),
  twins: [
    `vram_guard_gpu_memory_used_bytes{gpu="0",uuid="GPU-aaaa",name="NVIDIA GeForce RTX 4090",hostname="twins"} ${4 * GiB}`,
    `vram_guard_gpu_memory_used_bytes{gpu="0",uuid="GPU-bbbb",name="NVIDIA GeForce RTX 4090",hostname="twins"} ${20 * GiB}`,
    `vram_guard_gpu_memory_total_bytes{gpu="0",uuid="GPU-aaaa",name="NVIDIA GeForce RTX 4090",hostname="twins"} ${24 * GiB}`,
  ].join('\n'),
  evil: [
    `vram_guard_gpu_memory_used_bytes{gpu="0",uuid="GPU-evil",name="RTX\x1b[2J 4090",hostname="${EVIL_HOST}"} ${2 * GiB}`,
    `vram_guard_gpu_memory_total_bytes{gpu="0",uuid="GPU-evil",name="RTX\x1b[2J 4090",hostname="${EVIL_HOST}"} ${24 * GiB}`,
  ].join('\n'),
};

const pages: Server[] = [];
let fleet: FleetHarness;

before(async () => {
  const targets: string[] = [];
  for (const text of Object.values(PAGES)) {
    const server = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' });
      res.end(`${text}\n`);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    pages.push(server);
    targets.push(`127.0.0.1:${(server.address() as AddressInfo).port}`);
  }
  fleet = await startFleet({ extraTargets: targets });
});
after(async () => {
  await fleet?.stop();
  for (const s of pages) s.closeAllConnections();
  await Promise.all(pages.map((s) => new Promise((r) => s.close(r))));
});

interface FleetJson {
  hosts: Array<{ name: string; gpus: Array<{ index: number; usedBytes: number }> }>;
  leftOut: Array<{ host: string; gpu: number; reason: string }>;
  need: { places: Array<{ host: string; gpu: number }> };
}

test('through Prometheus, GPUs with −5 GiB or NaN used and a GPU whose series disagree are left out with their reasons and never ranked; the rest of the fleet is ranked', async () => {
  const r = await runCli(['fleet', '--prometheus', fleet.prometheusUrl, '--need', '8GiB', '--json'], {}, { timeoutMs: 30_000 });
  assert.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout) as FleetJson;
  assert.deepEqual(
    out.leftOut.map((l) => [l.host, l.gpu, l.reason]).sort(),
    [
      ['liar', 0, `implausible reading: used is negative (${-5 * GiB} B)`],
      ['nan-host', 0, 'implausible reading: used = NaN'],
      ['twins', 0, 'its series disagree on used memory (4096 MiB, 20480 MiB): more than one exporter reports this GPU under one instance'],
    ].sort(),
  );
  const ranked = new Set(out.need.places.map((p) => p.host));
  for (const gone of ['liar', 'nan-host', 'twins']) assert.ok(!ranked.has(gone), `${gone} was ranked: ${r.stdout}`);
  assert.ok(ranked.has(DGX_A100.hostname) && ranked.has('gpu-desk') && ranked.has('gpu-lab'), r.stdout);
  // The healthy host with the most room is first: the A100 with 1024 MiB used of its 80 GB.
  assert.deepEqual([out.need.places[0]?.host, out.need.places[0]?.gpu], [DGX_A100.hostname, 1]);
});

test('through Prometheus, a hostname and GPU name with ESC, BEL and CR → `vram-guard fleet` prints them escaped, on their own row', async () => {
  const r = await runCli(['fleet', '--prometheus', fleet.prometheusUrl], {}, { timeoutMs: 30_000 });
  assert.equal(r.code, 0, r.stderr);
  // biome-ignore lint/suspicious/noControlCharactersInRegex: finding control characters is what this test checks
  assert.ok(!/[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/.test(r.stdout), JSON.stringify(r.stdout));
  const row = r.stdout.split('\n').find((l) => l.startsWith('evil'));
  assert.match(row ?? '', /^evil\\x1B\]0;pwned\\x07\\rforged\s+0\s+RTX\\x1B\[2J 4090\s/, r.stdout);
  assert.ok(!r.stdout.split('\n').some((l) => l.startsWith('forged')), r.stdout);
});
