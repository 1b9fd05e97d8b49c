/**
 * Fault matrix: nvidia-smi. Each test runs a stand-in nvidia-smi (test/fixtures/nvidia-smi) that
 * misbehaves in one way, through the real source (spawned in its own process group), and checks
 * what the user sees: the CLI's output and exit code, or the status bar when the watcher runs it.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { cliPath, runCli } from '../helpers/cli-run.ts';
import { watch, type WatchHarness } from '../helpers/watch-harness.ts';
import { EventLoopLag } from '../helpers/event-loop-lag.ts';

const fixture = (name: string): string => fileURLToPath(new URL(`../fixtures/nvidia-smi/${name}`, import.meta.url));
const scripted = fixture('nvidia-smi-scripted');
const UUID = 'GPU-5e8a2f4c-31d7-9b06-c2f1-7a4d0e6b9c13';
/** One GPU row as nvidia-smi prints it, with the memory figures (MiB) a test chooses. */
const row = (total: string, used: string, free: string) =>
  `0, NVIDIA GeForce RTX 3070, ${UUID}, ${total}, ${used}, ${free}, 312, 66, 41, 61, 142.53, Enabled, 550.54.14\n`;

let dir: string;
const running: WatchHarness[] = [];
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'vram-guard-fault-smi-'));
  assert.ok(existsSync(cliPath), `${cliPath} is missing: run \`npm run build\` first`);
});
after(async () => {
  for (const h of running) await h.stop();
});

let files = 0;
const pidFile = () => join(dir, `pids-${++files}`);
const pidsIn = async (file: string) => (await readFile(file, 'utf8').catch(() => '')).split('\n').filter(Boolean).map(Number);
/** Whether a process still runs (a zombie, killed and waiting for its parent to reap it, does not). */
async function alive(pid: number): Promise<boolean> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => null);
  if (stat === null) return false;
  return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
}

/** `vram-guard status` reading the stand-in nvidia-smi only. */
const status = (env: NodeJS.ProcessEnv, ...flags: string[]) => runCli(['status', ...flags, '--source', 'nvidia-smi', '--nvidia-smi', scripted], env);

function watchSmi(executable: string, env: NodeJS.ProcessEnv, timeoutMs = 400): WatchHarness {
  const h = watch({ probe: { preference: 'nvidia-smi', nvidiaSmiPath: executable, nvidiaSmiTimeoutMs: timeoutMs, env: { PATH: process.env.PATH, ...env } } });
  running.push(h);
  return h;
}

test('nvidia-smi hangs → killed with its whole process group at the timeout; "no GPU" says it hung and was killed', async () => {
  const pids = pidFile();
  const lag = new EventLoopLag(20);
  // A timeout long enough that a host blocked while it runs stands out from a loaded machine's pauses.
  const h = watchSmi(fixture('nvidia-smi-hangs'), { FAKE_NVIDIA_SMI_PIDS: pids }, 1600);
  await h.until('the status to be "none"', () => h.watcher.status.state === 'none', 10_000);
  const late = lag.stop().wallMs - 20;
  assert.equal(h.view().text, '$(chip) no GPU');
  assert.match(h.view().tooltip, /nvidia-smi-hangs hung for 1600 ms and was killed\. Its whole process group went with it \(its process group \(\d+\)\)/);
  const started = await pidsIn(pids);
  assert.equal(started.length, 1);
  for (const pid of started) assert.equal(await alive(pid), false, `process ${pid} is gone`);
  // A host blocked by the run would pause for all of its 1.6 s; a loaded machine pauses a free one far less.
  assert.ok(late < 800, `a 20 ms timer ran ${Math.round(late)} ms late while nvidia-smi hung`);
});

test('nvidia-smi leaves a child holding its output open → the process group is killed at the timeout; the error says what held it', async () => {
  const pids = pidFile();
  const h = watchSmi(scripted, { FAKE_NVIDIA_SMI_GPU_OUTPUT: row('8192', '5590', '2290'), FAKE_NVIDIA_SMI_CHILD: '1', FAKE_NVIDIA_SMI_PIDS: pids });
  await h.until('the status to be "none"', () => h.watcher.status.state === 'none', 10_000);
  assert.equal(h.view().text, '$(chip) no GPU');
  assert.match(h.view().tooltip, /nvidia-smi-scripted exited, but a process it started kept its output open past 400 ms: its process group \(\d+\) was killed/);
  const [shell, child] = await pidsIn(pids);
  assert.ok(shell && child, 'the stand-in and its child both started');
  assert.equal(await alive(child), false, `the child ${child} holding the pipe is gone`);
});

test('nvidia-smi leaves a child that left its process group holding its output open → given up on 2 s after the kill; the error says the answer was not used', async () => {
  const pids = pidFile();
  const h = watchSmi(scripted, { FAKE_NVIDIA_SMI_GPU_OUTPUT: row('8192', '5590', '2290'), FAKE_NVIDIA_SMI_CHILD: 'setsid', FAKE_NVIDIA_SMI_PIDS: pids });
  try {
    await h.until('the status to be "none"', () => h.watcher.status.state === 'none', 10_000);
    assert.equal(h.view().text, '$(chip) no GPU');
    assert.match(
      h.view().tooltip,
      /nvidia-smi-scripted exited, but a process it started holds its output open and survived the kill of its process group \(\d+\) \(it left the group\): the answer was not used/,
    );
  } finally {
    // The children that left the group are out of VRAM Guard's reach by design: the test ends them.
    await h.stop();
    for (const pid of await pidsIn(pids)) if (await alive(pid)) process.kill(pid, 'SIGKILL');
  }
});

test('nvidia-smi prints garbage → an error quoting at most 200 characters of it, no GPU invented; the CLI exits 2', async () => {
  const garbage = `<html><body>${'Service Unavailable, retry later, '.repeat(300)}</body></html>`;
  const cli = await status({ FAKE_NVIDIA_SMI_GPU_OUTPUT: garbage });
  assert.equal(cli.code, 2);
  assert.equal(cli.stdout, '', 'no GPU is printed');
  const quote =
    /nvidia-smi printed a line that is not a GPU row \(no GPU index first\): "(<html><body>Service Unavailable[^"]*)…" \((\d+) characters in all\)/.exec(
      cli.stderr,
    );
  assert.ok(quote, cli.stderr);
  assert.equal(quote[1]!.length, 200);
  assert.equal(Number(quote[2]), garbage.length);

  // Fields enough for a GPU row, but not a GPU: no GPU named after the garbage.
  const lookalike = await status({ FAKE_NVIDIA_SMI_GPU_OUTPUT: `${'error, '.repeat(15)}error\n` });
  assert.equal(lookalike.code, 2);
  assert.doesNotMatch(lookalike.stdout, /GPU 0/);
  assert.match(lookalike.stderr, /not a GPU row \(no GPU index first\): "error, error,/);
});

test('nvidia-smi prints nothing → an error saying it answered with nothing, not "No GPUs" with exit 0', async () => {
  const cli = await status({ FAKE_NVIDIA_SMI_GPU_OUTPUT: '' });
  assert.equal(cli.code, 2);
  assert.doesNotMatch(cli.stdout, /No GPUs/);
  assert.match(cli.stderr, /nvidia-smi-scripted answered the GPU query with nothing \(exit code 0\)/);
});

test('nvidia-smi prints the wrong number of columns → an error naming the count, no GPU invented; the CLI exits 2', async () => {
  const cli = await status({ FAKE_NVIDIA_SMI_GPU_OUTPUT: `0, NVIDIA GeForce RTX 3070, ${UUID}, 8192, 5590\n` });
  assert.equal(cli.code, 2);
  assert.equal(cli.stdout, '');
  assert.match(
    cli.stderr,
    /not a GPU row \(expected 13 fields per GPU, got 5\): "0, NVIDIA GeForce RTX 3070, GPU-5e8a2f4c-31d7-9b06-c2f1-7a4d0e6b9c13, 8192, 5590"/,
  );
});

test('nvidia-smi reports memory as [N/A] → the GPU shows "memory not supported" with what nvidia-smi said, and no level', async () => {
  const cli = await status({ FAKE_NVIDIA_SMI_GPU_OUTPUT: row('[N/A]', '[N/A]', '[N/A]') });
  assert.equal(cli.code, 0, cli.stderr);
  assert.match(cli.stdout, /^GPU 0 {2}NVIDIA GeForce RTX 3070 {2}MEMORY NOT SUPPORTED: memory\.total: nvidia-smi reported \[N\/A\]$/m);
  const json = await status({ FAKE_NVIDIA_SMI_GPU_OUTPUT: row('[N/A]', '[N/A]', '[N/A]') }, '--json');
  const d = (JSON.parse(json.stdout) as { devices: Array<{ memory: unknown; level: unknown; error: { code: string } | null }> }).devices[0]!;
  assert.deepEqual([d.memory, d.level, d.error?.code], [null, null, 'NOT_SUPPORTED']);
});

test('nvidia-smi reports negative, non-numeric or impossible memory → "implausible reading" quoting the figure, and no level', async () => {
  const cases: Array<[string, string, string, RegExp]> = [
    ['8192', '-512', '8704', /IMPLAUSIBLE READING: implausible reading from nvidia-smi: memory\.used = "-512", not a number of MiB/],
    ['8192', '5590 MiB?', '2290', /IMPLAUSIBLE READING: implausible reading from nvidia-smi: memory\.used = "5590 MiB\?", not a number of MiB/],
    ['8192', '9000', '0', /IMPLAUSIBLE READING: implausible reading from nvidia-smi: used 9437184000 B is more than total 8589934592 B/],
    ['0', '0', '0', /IMPLAUSIBLE READING: implausible reading from nvidia-smi: total = 0 B/],
  ];
  for (const [total, used, free, shown] of cases) {
    const text = await status({ FAKE_NVIDIA_SMI_GPU_OUTPUT: row(total, used, free) });
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, shown);
    const json = await status({ FAKE_NVIDIA_SMI_GPU_OUTPUT: row(total, used, free) }, '--json');
    const d = (JSON.parse(json.stdout) as { devices: Array<{ memory: unknown; level: unknown; error: { code: string } | null }> }).devices[0]!;
    assert.deepEqual([d.memory, d.level, d.error?.code], [null, null, 'IMPLAUSIBLE_READING'], `used ${used} of ${total}`);
  }
});

test('nvidia-smi exits with an error code → its message (capped) and the code; the CLI exits 2', async () => {
  const said = `NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. ${'Make sure that the latest NVIDIA driver is installed and running. '.repeat(40)}`;
  const cli = await status({ FAKE_NVIDIA_SMI_GPU_OUTPUT: said, FAKE_NVIDIA_SMI_EXIT: '9' });
  assert.equal(cli.code, 2);
  const m =
    /nvidia-smi-scripted exited with code 9: (NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver\.[^\n]*?)… \((\d+) characters in all\)/.exec(
      cli.stderr,
    );
  assert.ok(m, cli.stderr);
  assert.equal(m[1]!.length, 200);
  assert.equal(Number(m[2]), said.trim().length);
});

test('nvidia-smi floods its output → killed at 1 MiB with its process group; the error quotes the start', async () => {
  const t0 = performance.now();
  const cli = await status({ FAKE_NVIDIA_SMI_FLOOD: '1' });
  assert.equal(cli.code, 2);
  assert.match(
    cli.stderr,
    /nvidia-smi-scripted printed more than 1 MiB for one query and was killed with its process group; that is not nvidia-smi's answer: "0123456789,abcdefghij, 0123456789/,
  );
  assert.ok(performance.now() - t0 < 5000, 'stopped at the cap, not at the timeout');
});
