/**
 * `vram-guard fleet` end to end over exporter pages served on loopback (dcgm-exporter's format):
 * the table, `--need` and its exit codes, `--model` with llama-server arguments through the GGUF
 * estimate, and usage errors.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { resolveModelNeed } from '../../../src/core/estimate/server-need.ts';
import { main } from '../../../src/cli.ts';
import { renderDcgm } from '../../fixtures/dcgm-exporter/dcgm-exporter.ts';
import { DGX_A100 } from '../../helpers/fleet-machines.ts';
import { MiB } from '../../helpers/fake-nvml.ts';
import { LLAMA_32_3B, writeGguf } from '../../helpers/gguf-fixtures.ts';

let server: Server;
let url: string;
before(async () => {
  server = createServer((_req, res) => res.writeHead(200, { 'content-type': 'text/plain' }).end(renderDcgm(DGX_A100)));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/metrics`;
});
after(() => new Promise<void>((r) => server.close(() => r())));

async function fleet(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const io = {
    stdout: (t: string) => {
      stdout += t;
    },
    stderr: (t: string) => {
      stderr += t;
    },
    env,
    interrupted: new Promise<void>(() => {}),
  };
  const code = await main(['fleet', ...args], io);
  return { code, stdout, stderr };
}

test('the table: each GPU with used / total, level and the dcgm-exporter host', async () => {
  const r = await fleet(['--targets', url]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^HOST\s+GPU\s+NAME\s+USED \/ TOTAL\s+LEVEL\s+TOP HOLDERS\s+LAST HOUR$/m);
  assert.match(r.stdout, /dgx-a100\s+0\s+NVIDIA A100-SXM4-80GB\s+39\.2 GiB \/ 80\.0 GiB \(49%\)\s+OK/);
  assert.match(r.stdout, /dgx-a100\s+1\s+NVIDIA A100-SXM4-80GB\s+1\.0 GiB \/ 80\.0 GiB \(1%\)\s+OK/);
});

test('--need: exit 0 when a GPU fits, 1 when none does; --json in bytes', async () => {
  const fits = await fleet(['--targets', url, '--need', '60GiB', '--json']);
  assert.equal(fits.code, 0);
  const json = JSON.parse(fits.stdout) as { need: { bytes: number; places: Array<{ gpu: number; verdict: string; freeBytes: number }> } };
  assert.equal(json.need.bytes, 60 * 1024 * MiB);
  assert.deepEqual(
    json.need.places.map((p) => [p.gpu, p.verdict, p.freeBytes]),
    [
      [1, 'fits', DGX_A100.gpus[1]!.fbFreeMiB * MiB],
      [0, 'no room', DGX_A100.gpus[0]!.fbFreeMiB * MiB],
    ],
  );
  const none = await fleet(['--targets', url, '--need', '100GiB']);
  assert.equal(none.code, 1);
});

test('--model with llama-server arguments ranks by the estimate of those arguments', async () => {
  const model = await writeGguf('llama-3.2-3b-instruct-q4_k_m', LLAMA_32_3B, { sparse: true });
  const args = ['-c', '16384', '-np', '2', '-ctk', 'q8_0', '-ngl', '99'];
  const r = await fleet(['--targets', url, '--model', model, '--args', args.join(' '), '--json']);
  assert.equal(r.code, 0, r.stderr);
  // The figure from the estimate itself, for the same file and arguments.
  const expected = await resolveModelNeed({ server: 'llama-server', args, env: {}, cwd: process.cwd(), model, from: 'test', totalVramBytes: null });
  assert.ok(expected.ok && expected.need.estimate.kind === 'estimate');
  assert.equal((JSON.parse(r.stdout) as { need: { bytes: number } }).need.bytes, expected.need.estimate.totalBytes);
  const text = await fleet(['--targets', url, '--model', model, '--args', args.join(' ')]);
  assert.match(text.stdout, /^Estimate: weights \d+ MiB \+ KV cache \d+ MiB/m);
  const wrong = await fleet(['--targets', url, '--model', model, '--args', '-ctk q3']);
  assert.equal(wrong.code, 64, 'llama-server refuses -ctk q3: so does the fleet');
});

test('usage: no source, a bad URL, --args without --model, a bad --need → exit 64 with the reason', async () => {
  for (const [args, why] of [
    [[], /name a Prometheus/],
    [['--prometheus', 'prometheus.lan:9090'], /must start with http:\/\/ or https:\/\//],
    [['--targets', url, '--args', '-c 4096'], /--args only applies with --model/],
    [['--targets', url, '--need', '50%'], /--need must be a size/],
  ] as const) {
    const r = await fleet([...args]);
    assert.equal(r.code, 64, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, why);
  }
});

test('no source answers → exit 4, each source with its reason', async () => {
  const r = await fleet(['--targets', 'http://127.0.0.1:1/metrics', '--timeout', '2']);
  assert.equal(r.code, 4);
  assert.match(r.stdout, /source http:\/\/127\.0\.0\.1:1\/metrics: .*could not be reached/);
});
