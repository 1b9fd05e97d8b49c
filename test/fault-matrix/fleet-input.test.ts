/**
 * Fault matrix: what the fleet's sources say, and what the drivers name things. Each test serves
 * exporter pages (or a Prometheus) on loopback with one lie or one trap in them, runs the built
 * `vram-guard fleet` or `vram-guard status` as a user would, and checks what reaches the terminal:
 * an implausible GPU is left out with its reason (never ranked, never dropped without a word),
 * control characters are shown escaped, and a bearer token never comes back out. Needs
 * `npm run build` first.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { LoopbackServers, type Handler } from '../helpers/loopback-http.ts';
import { cliPath, runCli } from '../helpers/cli-run.ts';
import { buildFakeNvml, FakeNvmlState, GiB, MiB } from '../helpers/fake-nvml.ts';

const loopback = new LoopbackServers();
const serve = (handler: Handler) => loopback.serve(handler);

after(async () => {
  await loopback.closeAll();
});

let lib: string;
before(async () => {
  assert.ok(existsSync(cliPath), `${cliPath} is missing: run "npm run build" first`);
  lib = await buildFakeNvml();
});

/** A label value in the Prometheus text format: only \, " and line feed are escaped there. */
const labelValue = (text: string) => text.replaceAll('\\', '\\\\').replaceAll('"', '\\"').replaceAll('\n', '\\n');

interface PageGpu {
  gpu: number;
  name?: string;
  uuid?: string;
  /** Figures as the exporter writes them: numbers, or "NaN", "+Inf". */
  used: number | string;
  total: number | string;
  free?: number | string;
  process?: { name: string; bytes: number };
}

/** A VRAM Guard exporter's page (the metric names and labels its exporter writes) for one host. */
function vgPage(hostname: string, gpus: PageGpu[]): string {
  const lines: string[] = [];
  for (const g of gpus) {
    const labels = `gpu="${g.gpu}",uuid="${labelValue(g.uuid ?? `GPU-${hostname}-${g.gpu}`)}",name="${labelValue(g.name ?? 'NVIDIA GeForce RTX 4090')}",hostname="${labelValue(hostname)}"`;
    lines.push(`vram_guard_gpu_memory_used_bytes{${labels}} ${g.used}`);
    lines.push(`vram_guard_gpu_memory_total_bytes{${labels}} ${g.total}`);
    if (g.free !== undefined) lines.push(`vram_guard_gpu_memory_free_bytes{gpu="${g.gpu}",hostname="${labelValue(hostname)}"} ${g.free}`);
    if (g.process)
      lines.push(
        `vram_guard_process_memory_used_bytes{gpu="${g.gpu}",hostname="${labelValue(hostname)}",pid="4242",process="${labelValue(g.process.name)}"} ${g.process.bytes}`,
      );
  }
  return `${lines.join('\n')}\n`;
}

async function page(text: string): Promise<string> {
  return `${await serve((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' });
    res.end(text);
  })}/metrics`;
}

/** An honest 24 GiB card with 10 GiB used: 14 GiB free. */
const honestPage = () => page(vgPage('honest', [{ gpu: 0, used: 10 * GiB, total: 24 * GiB, free: 14 * GiB }]));

/** Anything a terminal would act on: every control character but the line feeds that end lines. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: finding control characters is what this test checks
const TERMINAL_CONTROL = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/;

interface FleetJson {
  hosts: Array<{ name: string; gpus: Array<{ index: number; freeBytes: number }> }>;
  leftOut: Array<{ host: string; gpu: number; reason: string }>;
  need: { places: Array<{ host: string; gpu: number; freeBytes: number }> } | null;
}

test('a GPU that reports −5 GiB used ("29 GiB free" on a 24 GiB card) → left out of the fleet and the ranking, named with "used is negative"; the honest GPU is ranked first', async () => {
  const liar = await page(vgPage('liar', [{ gpu: 0, used: -5 * GiB, total: 24 * GiB, free: 29 * GiB }]));
  const honest = await honestPage();
  const targets = `${liar},${honest}`;
  const text = await runCli(['fleet', '--targets', targets, '--need', '8GiB']);
  assert.equal(text.code, 0, text.stderr);
  const rows = text.stdout.split('\n').filter((l) => /^\d+\s/.test(l));
  assert.equal(rows.length, 1, text.stdout);
  assert.match(rows[0]!, /^1\s+honest\s+0\s+.*14\.0 GiB\s+6\.0 GiB\s+.*fits$/);
  assert.ok(!text.stdout.includes('29.0 GiB'), text.stdout);
  assert.ok(text.stdout.includes(`left out: liar GPU 0 (from ${liar}): implausible reading: used is negative (${-5 * GiB} B)\n`), text.stdout);

  const json = await runCli(['fleet', '--targets', targets, '--need', '8GiB', '--json']);
  const out = JSON.parse(json.stdout) as FleetJson;
  assert.deepEqual(
    out.need?.places.map((p) => [p.host, p.gpu, p.freeBytes]),
    [['honest', 0, 14 * GiB]],
  );
  assert.deepEqual(
    out.leftOut.map((l) => [l.host, l.gpu, l.reason]),
    [['liar', 0, `implausible reading: used is negative (${-5 * GiB} B)`]],
  );
});

test('hosts whose figures are NaN, +Inf or a total of 0 → each is left out with the figure that cannot be true, beside the hosts that are shown; none vanishes without a word', async () => {
  const nan = await page(vgPage('nan-host', [{ gpu: 0, used: 'NaN', total: 24 * GiB }]));
  const inf = await page(vgPage('inf-host', [{ gpu: 0, used: 2 * GiB, total: '+Inf' }]));
  // dcgm-exporter's figures, in MiB: total = used + free + reserved = 0.
  const zero = await page(
    'DCGM_FI_DEV_FB_USED{gpu="0",UUID="GPU-z",modelName="Tesla T4",Hostname="zero-host"} 0\nDCGM_FI_DEV_FB_FREE{gpu="0",UUID="GPU-z",modelName="Tesla T4",Hostname="zero-host"} 0\n',
  );
  const honest = await honestPage();
  const r = await runCli(['fleet', '--targets', [nan, inf, zero, honest].join(',')]);
  assert.equal(r.code, 0, r.stderr);
  const [head, ...rest] = r.stdout.split('\n');
  assert.match(head!, /^HOST\s+GPU\s+NAME/);
  assert.match(rest[0]!, /^honest\s+0\s+NVIDIA GeForce RTX 4090\s+10\.0 GiB \/ 24\.0 GiB \(42%\)\s+OK/);
  assert.deepEqual(rest.slice(1), [
    `left out: nan-host GPU 0 (from ${nan}): implausible reading: used = NaN`,
    `left out: inf-host GPU 0 (from ${inf}): implausible reading: total = +Inf`,
    `left out: zero-host GPU 0 (from ${zero}): implausible reading: total = 0 B`,
    '',
  ]);
});

test('two series give one GPU different figures (two exporters behind one instance) → the GPU is left out quoting both figures; neither silently wins', async () => {
  const twice = await page(
    [
      'vram_guard_gpu_memory_used_bytes{gpu="0",uuid="GPU-aaaa",name="NVIDIA GeForce RTX 4090",hostname="twins"} 4294967296',
      'vram_guard_gpu_memory_used_bytes{gpu="0",uuid="GPU-bbbb",name="NVIDIA GeForce RTX 4090",hostname="twins"} 21474836480',
      'vram_guard_gpu_memory_total_bytes{gpu="0",uuid="GPU-aaaa",name="NVIDIA GeForce RTX 4090",hostname="twins"} 25769803776',
      // A second GPU whose two series agree is shown: only disagreement is a fault.
      'vram_guard_gpu_memory_used_bytes{gpu="1",uuid="GPU-cccc",name="NVIDIA GeForce RTX 3090",hostname="twins"} 2147483648',
      'vram_guard_gpu_memory_used_bytes{gpu="1",uuid="GPU-cccc",name="NVIDIA GeForce RTX 3090",hostname="twins",job="copy"} 2147483648',
      'vram_guard_gpu_memory_total_bytes{gpu="1",uuid="GPU-cccc",name="NVIDIA GeForce RTX 3090",hostname="twins"} 25769803776',
      '',
    ].join('\n'),
  );
  const r = await runCli(['fleet', '--targets', twice, '--json']);
  assert.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout) as FleetJson;
  assert.deepEqual(
    out.hosts.map((h) => [h.name, h.gpus.map((g) => g.index)]),
    [['twins', [1]]],
  );
  assert.deepEqual(
    out.leftOut.map((l) => [l.host, l.gpu, l.reason]),
    [['twins', 0, 'its series disagree on used memory (4096 MiB, 20480 MiB): more than one exporter reports this GPU under one instance']],
  );
  const text = await runCli(['fleet', '--targets', twice, '--need', '1GiB']);
  assert.match(text.stdout, /^1\s+twins\s+1\s+NVIDIA GeForce RTX 3090\s+/m);
  assert.ok(!/^\d+\s+twins\s+0\s/m.test(text.stdout), text.stdout);
  assert.match(text.stdout, /left out: twins GPU 0 .*: its series disagree on used memory \(4096 MiB, 20480 MiB\)/);
});

test('ESC, BEL and CR-LF in Prometheus labels (host, GPU and process names) → `vram-guard fleet` prints them as \\x1B, \\x07, \\r\\n: no terminal title set, no forged row', async () => {
  const evilHost = 'evil\x1b]0;pwned\x07\r\nforged-host  0  NVIDIA H100  1.0 GiB / 80.0 GiB (1%)  OK';
  const evil = await page(
    vgPage(evilHost, [{ gpu: 0, name: 'RTX\x1b[2J\x1b[H 4090', used: 10 * GiB, total: 24 * GiB, process: { name: 'python\x07\x1b[31m', bytes: 9 * GiB } }]),
  );
  const honest = await honestPage();
  for (const args of [[], ['--need', '1GiB']]) {
    const r = await runCli(['fleet', '--targets', `${evil},${honest}`, ...args]);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(!TERMINAL_CONTROL.test(r.stdout), `a control character reached the terminal: ${JSON.stringify(r.stdout)}`);
    const lines = r.stdout.trimEnd().split('\n');
    // The table's head (and the ranking's title), then one row per GPU: the evil host's and the honest one.
    assert.equal(lines.length, args.length ? 4 : 3, r.stdout);
    assert.ok(!lines.some((l) => l.startsWith('forged-host')), r.stdout);
    const row = lines.find((l) => l.includes('evil'));
    assert.ok(row?.includes('evil\\x1B]0;pwned\\x07\\r\\nforged-host'), r.stdout);
    assert.ok(row?.includes('RTX\\x1B[2J\\x1B[H 4090'), r.stdout);
    if (!args.length) assert.ok(row?.includes('python\\x07\\x1B[31m 9.0 GiB'), r.stdout);
  }
});

test("ESC, BEL and CR-LF in a GPU or process name from NVML (or a process's own command line) → `vram-guard status` prints them as \\x1B, \\x07, \\r\\n: no terminal title set, no forged row", async (t) => {
  // A real process that named itself with a terminal escape and a line break (any local user can):
  // NVML does not know its name, so status reads its command line from /proc.
  const named = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1 << 30)'], {
    argv0: 'evil\x1b]0;pwned\x07\r\nGPU 9  forged  EMERGENCY',
    stdio: 'ignore',
  });
  t.after(() => named.kill('SIGKILL'));
  assert.ok(named.pid);
  const fake = await FakeNvmlState.create({
    devices: [
      {
        name: 'NVIDIA\x1b]0;owned\x07 RTX A1000',
        total: 4 * GiB,
        used: 3000 * MiB,
        processes: [
          { pid: 4242, used: 2000 * MiB, name: '/usr/bin/llama\x1b[2J\x07-server' },
          { pid: named.pid, used: 900 * MiB },
        ],
      },
    ],
  });
  const r = await runCli(['status', '--source', 'nvml', '--nvml-library', lib], { FAKE_NVML_STATE: fake.path });
  assert.equal(r.code, 0, r.stderr);
  assert.ok(!TERMINAL_CONTROL.test(r.stdout), `a control character reached the terminal: ${JSON.stringify(r.stdout)}`);
  const lines = r.stdout.trimEnd().split('\n');
  // The source line, the GPU's line and its two processes: nothing more.
  assert.equal(lines.length, 4, r.stdout);
  assert.match(lines[1]!, /^GPU 0 {2}NVIDIA\\x1B\]0;owned\\x07 RTX A1000 {2}3000 MiB \/ 4096 MiB/);
  assert.equal(lines[2]!.trim(), '2000 MiB  llama\\x1B[2J\\x07-server (PID 4242)');
  assert.equal(lines[3]!.trim(), `900 MiB  evil\\x1B]0;pwned\\x07\\r\\nGPU 9  forged  EMERGENCY (PID ${named.pid})`);
});

test('a Prometheus that echoes the request headers in its error body → the error quotes the body with the bearer token hidden; no part of the token is printed', async () => {
  const token = 'vg-s3cr3t/Zq8xY+0kT7w==';
  const seen: string[] = [];
  const echo = await serve((req, res) => {
    seen.push(req.headers.authorization ?? '');
    // A proxy's error page that dumps the request, the token placed where a 120-character quote is cut.
    const dump = `upstream failed: ${'x'.repeat(60)} Authorization: Bearer ${token} | headers={"Authorization":["Bearer ${token.replaceAll('/', '\\/')}"]}`;
    res.writeHead(502, { 'content-type': 'text/plain' });
    res.end(dump);
  });
  for (const json of [false, true]) {
    const r = await runCli(['fleet', '--prometheus', echo, ...(json ? ['--json'] : [])], { VRAM_GUARD_PROMETHEUS_TOKEN: token });
    assert.equal(r.code, 4, r.stderr);
    const printed = r.stdout + r.stderr;
    assert.match(printed, /answered HTTP 502: \\?"upstream failed: x+ Authorization: Bearer \[token hidden\]/);
    for (let i = 0; i + 6 <= token.length; i++) assert.ok(!printed.includes(token.slice(i, i + 6)), `part of the token was printed: ${printed}`);
  }
  assert.ok(seen.length > 0 && seen.every((h) => h === `Bearer ${token}`), 'the token was not sent, so nothing was tested');
});
