/**
 * Fault matrix: the Prometheus exporter — bad listen addresses, a port in use, bad servers files,
 * a server that does not answer, a GPU source that keeps failing, and the editor setting set where
 * it must not be. The CLI runs as built (dist/cli.cjs) against the fake libnvidia-ml.
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { runToEnd, stopGroup, type Started } from '../../scripts/vscode/processes.ts';
import { startExporter } from '../../src/core/exporter/exporter.ts';
import { parseListenAddress, type ListenAddress } from '../../src/core/exporter/listen-address.ts';
import { MAX_SERVERS_FILE_BYTES, serversFilePath, writeServersFile } from '../../src/core/exporter/servers-file.ts';
import { Watcher } from '../../src/core/watch/watcher.ts';
import { readExporterListen } from '../../src/vscode/exporter/exporter-setting.ts';
import { buildFakeNvml, FakeNvmlState, MiB } from '../helpers/fake-nvml.ts';
import { GPU_LAB } from '../helpers/fleet-machines.ts';
import { requireBuiltCli, startCliExporter } from '../helpers/prometheus-harness.ts';
import { parsePrometheusText, seriesOf, oneValue } from '../helpers/prom-text.ts';
import { ScriptedSource } from '../helpers/scripted-source.ts';
import { freePort, pollUntil } from '../helpers/servers.ts';

let lib: string;
let nvml: FakeNvmlState;
let dir: string;
const started: Started[] = [];

before(async () => {
  requireBuiltCli();
  lib = await buildFakeNvml();
  dir = await mkdtemp(join(tmpdir(), 'vram-guard-exporter-faults-'));
  // GPU 0 of the lab machine, with this test process as one of its GPU processes.
  nvml = await FakeNvmlState.create({
    ...GPU_LAB.state,
    devices: [{ ...GPU_LAB.state.devices[0]!, processes: [{ pid: process.pid, used: 22000 * MiB, name: 'python3' }] }],
  });
});
after(async () => {
  await Promise.all(started.map((s) => stopGroup(s, 2000)));
});

const env = () => ({ ...process.env, FAKE_NVML_STATE: nvml.path });
const gpuArgs = () => ['--hostname', 'faulty', '--source', 'nvml', '--nvml-library', lib];

/** Runs `vram-guard exporter ARGS` to its end: the exit code and what it printed. */
async function exporterExits(args: string[]): Promise<{ code: number | string; output: string }> {
  let output = '';
  const code = await runToEnd('exporter', process.execPath, [requireBuiltCli(), 'exporter', ...args, ...gpuArgs().slice(args.includes('--hostname') ? 2 : 0)], {
    env: env(),
    timeoutMs: 15_000,
    onOutput: (c) => (output += c),
  });
  return { code, output };
}

/**
 * Starts the CLI exporter with a servers folder and scrapes it once it shows processes and `read`
 * says the folder has been read (it is read in the background, after the first sample): what the
 * test looks for — a warning printed, a task named — rather than a wait of some length.
 */
async function scrapeWithServers(serversDir: string, read: (scrape: { text: string; output: string }) => boolean) {
  const e = await startCliExporter('exporter', ['--listen', '127.0.0.1:0', '--servers-dir', serversDir, '--interval', '200', ...gpuArgs()], env());
  started.push(e.started);
  const text = await pollUntil(
    async () => {
      const scraped = await (await fetch(e.url)).text();
      return scraped.includes('vram_guard_process_memory_used_bytes{') && read({ text: scraped, output: e.output() }) ? scraped : null;
    },
    'a scrape with processes, after the servers folder was read',
    15_000,
    100,
  );
  const families = parsePrometheusText(text);
  return { families, output: e.output(), text };
}

async function occupy(): Promise<{ server: Server; port: number }> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const a = server.address();
  return { server, port: a && typeof a === 'object' ? a.port : 0 };
}

test('exporter --listen without a port → exit 64 saying the address has no port, nothing listens', async () => {
  const r = await exporterExits(['--listen', '127.0.0.1']);
  assert.equal(r.code, 64);
  assert.match(r.output, /--listen: "127\.0\.0\.1" has no port: write it like 127\.0\.0\.1:9835/);
  assert.doesNotMatch(r.output, /serving/);
});

test('exporter --listen with a port above 65535 → exit 64 naming the valid port range', async () => {
  const r = await exporterExits(['--listen', '127.0.0.1:98350']);
  assert.equal(r.code, 64);
  assert.match(r.output, /the port must be a number from 1 to 65535 \(or 0: any free port\), got 98350/);
});

test('exporter --listen with no address (":9835") → exit 64 asking for 0.0.0.0 or 127.0.0.1, never every interface implied', async () => {
  const r = await exporterExits(['--listen', ':9835']);
  assert.equal(r.code, 64);
  assert.match(r.output, /names no address: say which one, 0\.0\.0\.0:9835 for every interface or 127\.0\.0\.1:9835 for this machine only/);
});

test('exporter --listen with a malformed host → exit 64 saying it is neither an IP address nor a host name', async () => {
  const r = await exporterExits(['--listen', 'my host!:9835']);
  assert.equal(r.code, 64);
  assert.match(r.output, /"my host!" is neither an IP address nor a host name/);
});

test('exporter port already in use → exit 1 saying the port is in use and which --listen to try', async (t) => {
  const { server, port } = await occupy();
  t.after(() => server.close());
  const r = await exporterExits(['--listen', `127.0.0.1:${port}`]);
  assert.equal(r.code, 1);
  assert.match(
    r.output,
    new RegExp(`cannot listen on 127\\.0\\.0\\.1:${port}: the port ${port} is in use by another program.*--listen, e\\.g\\. 127\\.0\\.0\\.1:${port + 1}`),
  );
});

test('exporter --listen on an address this machine does not have → exit 1 saying it is not an address of this machine', async () => {
  // 192.0.2.0/24 is reserved for documentation: never a local address.
  const r = await exporterExits(['--listen', `192.0.2.7:${await freePort()}`]);
  assert.equal(r.code, 1);
  assert.match(r.output, /192\.0\.2\.7 is not an address of this machine/);
});

test('servers file is not JSON → a warning quoting its start, every process still served unattributed', async () => {
  const servers = join(dir, 'not-json');
  await mkdir(servers);
  await writeFile(serversFilePath(servers, process.pid), '{"format": "vram-guard-servers", oops');
  const { families, output } = await scrapeWithServers(servers, (s) => s.output.includes('is not JSON'));
  assert.match(output, /is not JSON .*starts with "\{\\"format\\": \\"vram-guard-servers\\", oops"; ignored/);
  assert.deepEqual(
    seriesOf(families, 'vram_guard_process_memory_used_bytes').map((s) => [s.labels.pid, s.labels.task ?? '', s.value]),
    [[String(process.pid), '', 22000 * MiB]],
  );
});

test('servers file larger than 256 KiB → ignored with a warning, metrics still served', async () => {
  const servers = join(dir, 'huge');
  await mkdir(servers);
  await writeFile(serversFilePath(servers, process.pid), ' '.repeat(MAX_SERVERS_FILE_BYTES + 1));
  const { families, output } = await scrapeWithServers(servers, (s) => s.output.includes('a servers file may hold; ignored'));
  assert.match(output, new RegExp(`is ${MAX_SERVERS_FILE_BYTES + 1} bytes, more than the ${MAX_SERVERS_FILE_BYTES} a servers file may hold; ignored`));
  assert.equal(oneValue(families, 'vram_guard_gpu_memory_used_bytes', { gpu: '0' }), GPU_LAB.state.devices[0]!.used);
});

test('servers file names a server URL off this machine → that server left out with a warning, the others attributed', async () => {
  const servers = join(dir, 'remote-url');
  await mkdir(servers);
  await writeServersFile(serversFilePath(servers, process.pid), [
    { name: 'elsewhere', kind: 'ollama', rootPid: process.pid, baseUrl: 'http://203.0.113.9:11434', gpu: 0 },
    { name: 'trainer', kind: 'task', rootPid: process.pid, baseUrl: null, gpu: null },
  ]);
  const { families, output } = await scrapeWithServers(servers, (s) => s.text.includes('task="trainer"'));
  assert.match(output, /"elsewhere": baseUrl http:\/\/203\.0\.113\.9:11434 is not on this machine; the exporter only asks servers on 127\.0\.0\.1/);
  assert.deepEqual(
    seriesOf(families, 'vram_guard_process_memory_used_bytes').map((s) => s.labels.task),
    ['trainer'],
  );
  assert.deepEqual(seriesOf(families, 'vram_guard_server_up'), [], 'the remote server was never asked');
});

test('servers file left by a closed VS Code window → its tasks are not attributed', async () => {
  const servers = join(dir, 'closed-window');
  await mkdir(servers);
  // A writer that has exited: a short-lived process's PID.
  const gone = await new Promise<number>((resolve) => {
    void import('node:child_process').then(({ spawn }) => {
      const c = spawn(process.execPath, ['-e', '0']);
      c.on('exit', () => resolve(c.pid!));
    });
  });
  await writeServersFile(serversFilePath(servers, gone), [{ name: 'old-task', kind: 'task', rootPid: process.pid, baseUrl: null, gpu: null }], gone);
  // A live window's broken file beside it: its warning says the folder has been read (all files at once).
  await writeFile(serversFilePath(servers, process.pid), 'not json');
  const { families } = await scrapeWithServers(servers, (s) => s.output.includes('is not JSON'));
  assert.deepEqual(
    seriesOf(families, 'vram_guard_process_memory_used_bytes').map((s) => s.labels.task ?? ''),
    [''],
  );
});

test('task name with quotes, a backslash and a newline → escaped in the label, the scrape still parses and names it exactly', async () => {
  const servers = join(dir, 'odd-name');
  await mkdir(servers);
  const name = 'fine-tune "llama"\\v2\nnight run';
  await writeServersFile(serversFilePath(servers, process.pid), [{ name, kind: 'task', rootPid: process.pid, baseUrl: null, gpu: null }]);
  const { families, text } = await scrapeWithServers(servers, (s) => s.text.includes('task="fine-tune'));
  assert.match(text, /task="fine-tune \\"llama\\"\\\\v2\\nnight run"/);
  assert.deepEqual(
    seriesOf(families, 'vram_guard_process_memory_used_bytes').map((s) => s.labels.task),
    [name],
  );
});

test('exporter --hostname empty → exit 64 saying the hostname label must be printable characters', async () => {
  const r = await exporterExits(['--listen', '127.0.0.1:0', '--hostname', ' ']);
  assert.equal(r.code, 64);
  assert.match(r.output, /the hostname label \(from --hostname\) must be 1 to 253 printable characters, got " "/);
});

test('model server does not answer → vram_guard_server_up 0, its process still attributed, the scrape answers', async () => {
  const servers = join(dir, 'silent-server');
  await mkdir(servers);
  const port = await freePort(); // nothing listens there
  await writeServersFile(serversFilePath(servers, process.pid), [
    { name: 'llama-dead', kind: 'llama-server', rootPid: process.pid, baseUrl: `http://127.0.0.1:${port}`, gpu: 0 },
  ]);
  const { families } = await scrapeWithServers(servers, (s) => s.text.includes('vram_guard_server_up{'));
  assert.equal(oneValue(families, 'vram_guard_server_up', { task: 'llama-dead', server: 'llama-server' }), 0);
  assert.equal(oneValue(families, 'vram_guard_server_ready', { task: 'llama-dead' }), 0);
  assert.deepEqual(
    seriesOf(families, 'vram_guard_process_memory_used_bytes').map((s) => [s.labels.task, s.labels.server]),
    [['llama-dead', 'llama-server']],
  );
});

test('one GPU of two is lost → vram_guard_gpu_up 0 and no figures for it, the other GPU still served', async () => {
  const lost = await FakeNvmlState.create({ ...GPU_LAB.state, devices: [GPU_LAB.state.devices[0]!, { ...GPU_LAB.state.devices[1]!, rc: 15 }] });
  const e = await startCliExporter('exporter', ['--listen', '127.0.0.1:0', '--servers-dir', join(dir, 'none'), ...gpuArgs()], {
    ...process.env,
    FAKE_NVML_STATE: lost.path,
  });
  started.push(e.started);
  const families = await pollUntil(
    async () => {
      const m = parsePrometheusText(await (await fetch(e.url)).text());
      return seriesOf(m, 'vram_guard_gpu_up').length === 2 ? m : null;
    },
    'both GPUs in a scrape',
    10_000,
    100,
  );
  assert.deepEqual(
    seriesOf(families, 'vram_guard_gpu_up').map((s) => [s.labels.gpu, s.value]),
    [
      ['0', 1],
      ['1', 0],
    ],
  );
  assert.deepEqual(
    seriesOf(families, 'vram_guard_gpu_memory_used_bytes').map((s) => [s.labels.gpu, s.value]),
    [['0', GPU_LAB.state.devices[0]!.used]],
  );
  assert.deepEqual(
    seriesOf(families, 'DCGM_FI_DEV_FB_USED').map((s) => s.labels.gpu),
    ['0'],
  );
});

test('GPU source fails every sample → errors counted, source_up 0 and GPU series withdrawn, the exporter keeps serving', async (t) => {
  const source = new ScriptedSource(8 * 1024 * MiB, [6000 * MiB]);
  const watcher = new Watcher({
    // A lost GPU does not open again either: otherwise the watcher reopens it after three failures
    // and, for a moment, serves as up again — the scrape below could land in that moment.
    openSource: async () => (source.failWith ? { ok: false, reason: source.failWith.message } : { ok: true, source }),
    thresholds: readThresholds(),
    intervalMs: 50,
    adaptive: fixed(50),
    reprobeMs: 60_000,
    failuresBeforeReprobe: 3,
    maxBackoffMs: 50,
  });
  const exporter = await startExporter({ watcher, hostname: 'flaky', address: loopbackAnyPort(), owners: () => [] });
  t.after(async () => {
    await exporter.close();
    await watcher.stop();
  });
  watcher.start();
  await pollUntil(() => watcher.latest, 'a first good sample');
  const good = parsePrometheusText(await (await fetch(exporter.url)).text());
  assert.equal(oneValue(good, 'vram_guard_gpu_memory_used_bytes', { gpu: '0' }), 6000 * MiB);
  source.failWith = new Error('GPU_IS_LOST: the GPU has fallen off the bus');
  await pollUntil(() => watcher.status.state === 'none', 'the watcher to give the source up', 5000);
  const res = await fetch(exporter.url);
  assert.equal(res.status, 200);
  const bad = parsePrometheusText(await res.text());
  assert.equal(oneValue(bad, 'vram_guard_source_up', { hostname: 'flaky' }), 0);
  assert.ok(oneValue(bad, 'vram_guard_sample_errors_total', { hostname: 'flaky' }) >= 3);
  assert.deepEqual(seriesOf(bad, 'vram_guard_gpu_memory_used_bytes'), [], 'no stale GPU figures');
  assert.ok(oneValue(bad, 'vram_guard_sample_age_seconds', { hostname: 'flaky' }) > 0, 'the age of the last good sample still shows');
});

test('vramGuard.exporter.listen set in workspace settings → ignored with a sentence: the exporter follows user settings only', () => {
  const r = readExporterListen({ defaultValue: '', workspaceValue: '0.0.0.0:9835' });
  assert.equal(r.address, null);
  assert.deepEqual(r.problems, [
    'vramGuard.exporter.listen is set in the workspace settings and is ignored there: a workspace cannot open a network listener. Set it in your user settings.',
  ]);
  const user = readExporterListen({ defaultValue: '', globalValue: '127.0.0.1:9835', workspaceFolderValue: '0.0.0.0:1' });
  assert.deepEqual(user.address, { host: '127.0.0.1', port: 9835, loopback: true });
});

test('vramGuard.exporter.listen invalid → the exporter stays off, a problem naming the setting and the fix', () => {
  const r = readExporterListen({ defaultValue: '', globalValue: 'localhost' });
  assert.equal(r.address, null);
  assert.deepEqual(r.problems, [
    'vramGuard.exporter.listen: "localhost" has no port: write it like 127.0.0.1:9835 (this machine only), 0.0.0.0:9835 (every interface), [::1]:9835, or a port alone (9835, on 127.0.0.1). The exporter stays off.',
  ]);
});

function readThresholds() {
  return {
    warning: { kind: 'percent' as const, percent: 80 },
    critical: { kind: 'percent' as const, percent: 90 },
    emergency: { kind: 'percent' as const, percent: 95 },
    hysteresis: { kind: 'percent' as const, percent: 2 },
  };
}
function fixed(ms: number) {
  return { enabled: false, fastIntervalMs: ms, calmIntervalMs: ms, margin: { kind: 'percent' as const, percent: 5 } };
}
function loopbackAnyPort(): ListenAddress {
  const a = parseListenAddress('127.0.0.1:0');
  if ('error' in a) throw new Error(a.error);
  return a;
}
