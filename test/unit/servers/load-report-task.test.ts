/**
 * A llama-server task with `"loadReport": true`, end to end with the real llama-server (the CPU build
 * of llama.cpp v0.5.0) on a tiny generated model: it is started with -lv 4, llama.cpp's load report
 * is kept in the measured footprints, and the next gate for the same file and settings takes its
 * parts and says so. The fake NVML does not see the CPU server, so no NVML figure settles: the entry
 * holds the printed parts alone. This build put every buffer in host memory (CPU_Mapped,
 * CPU_REPACK, CPU), so the parts it printed on a GPU are all 0 MiB.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { runPreflightCommand } from '../../../src/cli/preflight.ts';
import { FootprintStore } from '../../../src/core/estimate/measured-footprints.ts';
import { MiB } from '../../../src/core/units.ts';
import { serverCards } from '../../../src/vscode/dashboard/dashboard-data.ts';
import { buildFakeNvml } from '../../helpers/fake-nvml.ts';
import { fixtureDir } from '../../helpers/gguf-fixtures.ts';
import { baseGpu, ServerHarness } from '../../helpers/server-harness.ts';
import { pollUntil } from '../../helpers/servers.ts';
import { realLlama, tinyLlamaModel } from '../../helpers/real-llama-server.ts';

let SERVER = '';
let h: ServerHarness;
let model: string;
let dir: string;

before(async () => {
  // The built llama-server (a clear failure naming the setup command when it is missing) and a tiny model it loads.
  SERVER = realLlama().server;
  model = await tinyLlamaModel('load-report-task-tiny', 4096);
  dir = await mkdtemp(join(tmpdir(), 'vram-guard-load-report-'));
  h = await ServerHarness.create({ devices: [baseGpu()] });
  h.footprints = new FootprintStore(dir);
});

after(async () => {
  await h?.dispose();
  await rm(dir, { recursive: true, force: true });
  await rm(await fixtureDir(), { recursive: true, force: true });
});

const logOf = (name: string) => (h.logs.get(name) ?? []).join('\n');
const args = () => ['-m', model, '-c', '512', '-t', '1', '--host', '127.0.0.1', '--no-webui'];

test('a loadReport task is started with -lv 4, keeps what llama.cpp printed, and the next start is sized from it', { timeout: 60_000 }, async () => {
  const first = await h.task('tiny-1', 'llama-server', args(), { command: [SERVER], loadReport: true, startTimeoutSeconds: 30 });
  const r = await first.start();
  assert.ok(r.ok, logOf('tiny-1'));
  assert.match(logOf('tiny-1'), /Starting: \S+llama-server .* -lv 4\n?/);
  await pollUntil(() => logOf('tiny-1').includes("llama.cpp's own load report"), 'the load report to be kept', 15_000, 50);
  assert.match(
    logOf('tiny-1'),
    /llama\.cpp's own load report: weights 0 MiB \+ KV cache 0 MiB \+ compute buffer 0 MiB on the GPU \(printed \d{4}-\d\d-\d\d \d\d:\d\d\)/,
  );
  const stored = JSON.parse(await readFile(h.footprints!.path, 'utf8')) as {
    footprints: { measuredBytes: number | null; printed: { buffers: { buffer: string; part: string }[] } }[];
  };
  const entry = stored.footprints[0]!;
  assert.equal(entry.measuredBytes, null);
  assert.deepEqual([...new Set(entry.printed.buffers.map((b) => `${b.part} ${b.buffer}`))].sort(), [
    'compute CPU',
    'kv CPU',
    'model CPU_Mapped',
    'model CPU_REPACK',
    'output CPU',
  ]);
  // The dashboard's card: per part the gate's estimate beside what this start printed.
  const parts = serverCards([first], [])[0]?.parts;
  assert.ok(parts?.printedAt, 'the card has the printed report');
  const weights = parts.rows.find((row) => row.part === 'weights');
  assert.equal(weights?.printedMiB, 0);
  assert.ok((weights?.estimateMiB ?? 0) > 0, 'the estimate is beside it');
  await first.stop();

  const second = await h.task('tiny-2', 'llama-server', args(), { command: [SERVER], startTimeoutSeconds: 30 });
  const again = await second.start();
  assert.ok(again.ok, logOf('tiny-2'));
  assert.match(logOf('tiny-2'), /Estimated need: .*: weights 0 MiB \+ KV cache 0 MiB \+ CUDA context \d+ MiB = \d+ MiB/);
  assert.match(logOf('tiny-2'), /from llama\.cpp's own report of \d{4}-\d\d-\d\d \d\d:\d\d \(same file and settings; the formula gave \d+ MiB in all\)/);
  // Without loadReport nothing is added to the command line.
  assert.doesNotMatch(logOf('tiny-2'), /-lv 4/);
  // The gate's pre-flight report puts, per part, the estimate beside what llama.cpp printed.
  const markdown = second.lastGate?.reportMarkdown ?? '';
  assert.match(markdown, /\*\*llama\.cpp's own report of \d{4}-\d\d-\d\d \d\d:\d\d\*\*/);
  assert.match(markdown, /\| Part \| Estimate \| Printed \| Measured \|/);
  assert.match(markdown, /\| Weights \| \d+ MiB \| 0 MiB \| \|/);
  assert.match(markdown, /\| \*\*Total\*\* \| \*\*\d+ MiB\*\* \| \*\*0 MiB\*\* \| \*\*—\*\* \|/);
  await second.stop();

  // vram-guard preflight --model reads the same footprints and prints the same table.
  const out: string[] = [];
  const code = await runPreflightCommand(['--model', model, '--args', '-c 512', '--nvml-library', await buildFakeNvml()], {
    stdout: (t) => out.push(t),
    stderr: (t) => out.push(t),
    env: { VRAM_GUARD_STATE_DIR: dir, FAKE_NVML_STATE: h.fake.path },
    interrupted: new Promise(() => {}),
  });
  assert.equal(code, 0, out.join(''));
  assert.match(out.join(''), /\| Weights \| \d+ MiB \| 0 MiB \| \|/);
  assert.match(out.join(''), /from llama\.cpp's own report of/);
});

test('a loadReport task stopped by SIGTERM keeps the memory breakdown table llama-server printed as it stopped; the pre-flight report shows it', {
  timeout: 60_000,
}, async () => {
  const s = await h.task('tiny-stop', 'llama-server', [...args(), '--slots'], { command: [SERVER], loadReport: true, startTimeoutSeconds: 30 });
  let output = '';
  s.on('output', (text) => {
    output += text;
  });
  const r = await s.start();
  assert.ok(r.ok, logOf('tiny-stop'));
  await pollUntil(() => logOf('tiny-stop').includes("llama.cpp's own load report"), 'the load report to be kept', 15_000, 50);
  // /slots goes through the server's task loop: a SIGTERM before that loop runs is lost in this build.
  const slots = await fetch(`${s.baseUrl}/slots`);
  await slots.arrayBuffer();
  assert.equal(slots.status, 200);
  await s.stop('test');

  // The table as llama-server printed it last (as it stopped), read here with a pattern of the test's own.
  // One SIGTERM: a second one makes it quit at once, without the table.
  assert.doesNotMatch(output, /Received second interrupt/);
  // It prints one table for --fit's sizing pass as it starts, and one as it stops.
  const stopping = output.slice(output.indexOf('listening on'));
  assert.match(stopping, /memory breakdown \[MiB\]/, `no table after "listening on":\n${stopping.slice(-2000)}`);
  const last = output.slice(output.lastIndexOf('memory breakdown [MiB]'));
  const printed = [...last.matchAll(/common_memory_breakdown_print: \|\s+- (\S+)\s+\|\s+(\d+) =\s+(\d+) \+\s+(\d+) \+\s+(\d+)\s+\|/g)].map((m) => ({
    name: m[1]!,
    mib: [m[2], m[3], m[4], m[5]].map(Number),
  }));
  assert.ok(printed.length >= 1 && printed.some((p) => p.name === 'Host'), `the table llama-server printed as it stopped:\n${last.slice(0, 2000)}`);
  assert.match(
    logOf('tiny-stop'),
    /llama\.cpp's memory breakdown as it stopped: Host \d+ MiB \(model \d+ \+ context \d+ \+ compute \d+\).*\. Kept with the measured footprint\./,
  );

  const stored = JSON.parse(await readFile(h.footprints!.path, 'utf8')) as {
    footprints: {
      printed: {
        buffers: unknown[];
        breakdown?: { rows: { name: string; selfBytes: number; modelBytes: number; contextBytes: number; computeBytes: number }[] };
      };
    }[];
  };
  assert.equal(stored.footprints.length, 1, 'the same entry, updated');
  const entry = stored.footprints[0]!;
  assert.ok(entry.printed.buffers.length > 0, 'the parts printed at ready are still there');
  assert.deepEqual(
    entry.printed.breakdown?.rows.map((row) => ({
      name: row.name,
      mib: [row.selfBytes, row.modelBytes, row.contextBytes, row.computeBytes].map((b) => b / MiB),
    })),
    printed,
  );

  // The pre-flight for the same file and settings shows the table beside the printed parts.
  const out: string[] = [];
  const code = await runPreflightCommand(['--model', model, '--args', '-c 512', '--nvml-library', await buildFakeNvml()], {
    stdout: (t) => out.push(t),
    stderr: (t) => out.push(t),
    env: { VRAM_GUARD_STATE_DIR: dir, FAKE_NVML_STATE: h.fake.path },
    interrupted: new Promise(() => {}),
  });
  assert.equal(code, 0, out.join(''));
  const text = out.join('');
  assert.match(text, /\*\*llama\.cpp's memory breakdown as the server stopped\*\* \(\d{4}-\d\d-\d\d \d\d:\d\d\):/);
  assert.match(text, /\| Memory \| Self \| Model \| Context \| Compute \|/);
  for (const p of printed) assert.ok(text.includes(`| ${p.name} | ${p.mib.map((m) => `${m} MiB`).join(' | ')} |`), `${p.name} in:\n${text}`);
});
