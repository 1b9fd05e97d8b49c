/** Spawn, health, early exit, stop (SIGTERM then SIGKILL) against real emulated servers on 127.0.0.1. */
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, afterEach, describe, it } from 'node:test';
import { isRunning, processTree } from '../../../src/core/servers/process-tree.ts';
import { ServerProcess } from '../../../src/core/servers/server-process.ts';
import { alive, emulatorCommand, freePort, PidRegister, pollUntil } from '../../helpers/servers.ts';
import { MiB } from '../../../src/core/units.ts';

const pids = new PidRegister();
afterEach(() => pids.killAll());
after(() => pids.killAll());

async function llama(extra: string[], options: Partial<{ stopTimeoutMs: number; startTimeoutMs: number }> = {}) {
  const port = await freePort();
  const [cmd, ...base] = emulatorCommand('llama-server');
  const p = new ServerProcess({
    command: cmd!,
    args: [...base, '-m', 'model.gguf', '-c', '4096', '--port', String(port), ...extra],
    healthUrl: `http://127.0.0.1:${port}/health`,
    startTimeoutMs: options.startTimeoutMs ?? 10_000,
    stopTimeoutMs: options.stopTimeoutMs ?? 5000,
    healthIntervalMs: 25,
  });
  let output = '';
  p.on('output', (t) => (output += t));
  return { p, port, output: () => output };
}

describe('server process', () => {
  it('starts, waits through 503 while loading, reports ready, and stops with SIGTERM', async () => {
    const { p, output } = await llama(['--load-ms', '300']);
    const started = p.start();
    pids.add(p.pid);
    const r = await started;
    assert.ok(r.ok, JSON.stringify(r));
    assert.ok(r.readyMs >= 250, `ready after ${r.readyMs} ms, before the load finished`);
    assert.match(output(), /KV buffer size = 512\.00 MiB/);
    const stop = await p.stop();
    assert.equal(stop.how, 'SIGTERM');
    assert.equal(alive(r.pid), false);
  });

  it('reports an exit during start with its exit code and last log lines', async () => {
    const { p } = await llama(['--exit-during-start', '3']);
    const started = p.start();
    pids.add(p.pid);
    const r = await started;
    assert.equal(r.ok, false);
    if (r.ok) return;
    assert.equal(r.reason, 'exited');
    assert.equal(r.exit?.exitCode, 3);
    assert.match(r.message, /exit code 3/);
    assert.ok(
      r.lastLines.some((l) => /failed to load model/.test(l)),
      r.lastLines.join('\n'),
    );
  });

  it('kills a server that ignores SIGTERM after the stop timeout, leaving no process', async () => {
    const { p } = await llama(['--ignore-sigterm'], { stopTimeoutMs: 400 });
    const started = p.start();
    pids.add(p.pid);
    const r = await started;
    assert.ok(r.ok);
    const stop = await p.stop();
    assert.equal(stop.how, 'SIGKILL');
    assert.ok(stop.waitedMs >= 390, `waited ${stop.waitedMs} ms`);
    assert.equal(p.exit?.signal, 'SIGKILL');
    assert.equal(alive(r.pid), false);
    assert.match(p.lastLines().join('\n'), /ignoring it/);
  });

  it('stops the whole process tree, children included', async () => {
    // A wrapper that starts the server as its child, as `npx`, shell scripts and launchers do.
    const port = await freePort();
    const [node, script] = emulatorCommand('llama-server');
    const wrapper = `const { spawn } = require('node:child_process'); spawn(${JSON.stringify(node)}, [${JSON.stringify(script)}, '--port', '${port}', '--ignore-sigterm'], { stdio: 'inherit' }); process.on('SIGTERM', () => {}); setInterval(() => {}, 1000);`;
    const p = new ServerProcess({
      command: node!,
      args: ['-e', wrapper],
      healthUrl: `http://127.0.0.1:${port}/health`,
      startTimeoutMs: 10_000,
      stopTimeoutMs: 300,
    });
    const started = p.start();
    pids.add(p.pid);
    assert.ok((await started).ok);
    const tree = await processTree(p.pid!);
    assert.equal(tree.length, 2, `tree ${tree.join(',')}`);
    for (const pid of tree) pids.add(pid);
    const stop = await p.stop();
    assert.equal(stop.how, 'SIGKILL');
    for (const pid of tree) assert.equal(await isRunning(pid), false, `PID ${pid} survived`);
  });

  it('SIGTERM reaches the process group once, and a child that left the group (a group of its own) directly', async () => {
    // Each counts the SIGTERMs that come within 300 ms of the first, then says how many and exits.
    const counting = (who: string) =>
      `let n = 0; process.on('SIGTERM', () => { if (++n === 1) setTimeout(() => { console.log('${who} SIGTERM x' + n); process.exit(0); }, 300); }); setInterval(() => {}, 1000);`;
    const child = `${counting('child')} console.log('child ready');`;
    const root = `${counting('root')} require('node:child_process').spawn(process.execPath, ['-e', ${JSON.stringify(child)}], { stdio: ['ignore', 'inherit', 'inherit'], detached: true });`;
    const p = new ServerProcess({ command: process.execPath, args: ['-e', root], healthUrl: null, startTimeoutMs: 10_000, stopTimeoutMs: 5000 });
    let output = '';
    p.on('output', (t) => (output += t));
    const started = p.start();
    pids.add(p.pid);
    assert.ok((await started).ok);
    await pollUntil(() => output.includes('child ready'), 'the child to be ready', 10_000, 20);
    const tree = await processTree(p.pid!);
    assert.equal(tree.length, 2, `tree ${tree.join(',')}`);
    for (const pid of tree) pids.add(pid);
    const stop = await p.stop();
    assert.equal(stop.how, 'SIGTERM');
    assert.match(output, /root SIGTERM x1\n/);
    assert.match(output, /child SIGTERM x1\n/);
  });

  it('drains a flood of output without stalling', async () => {
    const { p, output } = await llama(['--chatty-kb', '2048']);
    const started = p.start();
    pids.add(p.pid);
    const r = await started;
    assert.ok(r.ok);
    await pollUntil(() => output().length > 2 * MiB, 'all 2 MiB of output');
    await p.stop();
  });

  it('says so when the program does not exist', async () => {
    const p = new ServerProcess({ command: 'no-such-llama-server', args: [], healthUrl: null, startTimeoutMs: 1000, stopTimeoutMs: 100 });
    const r = await p.start();
    assert.equal(r.ok, false);
    if (!r.ok) {
      assert.equal(r.reason, 'spawn-failed');
      assert.match(r.message, /ENOENT/);
      assert.match(r.message, /PATH/);
    }
  });

  it('times out when health never answers 200, and says how to fix it', async () => {
    // The health endpoint answers 503 "Loading model" (llama-server's reply while it loads) from this
    // process from the first poll on, so the start times out on a 503 however slowly a busy machine
    // starts the server program itself.
    const health = createServer((_req, res) => {
      res.writeHead(503, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { code: 503, message: 'Loading model', type: 'unavailable_error' } }));
    });
    await new Promise<void>((resolve) => health.listen(0, '127.0.0.1', resolve));
    after(() => health.close());
    const port = (health.address() as AddressInfo).port;
    const p = new ServerProcess({
      command: process.execPath,
      args: ['-e', 'setInterval(() => {}, 1000)'],
      healthUrl: `http://127.0.0.1:${port}/health`,
      startTimeoutMs: 1500,
      stopTimeoutMs: 5000,
      healthIntervalMs: 25,
    });
    const started = p.start();
    pids.add(p.pid);
    const r = await started;
    assert.equal(r.ok, false);
    if (!r.ok) {
      assert.equal(r.reason, 'timeout');
      assert.match(r.message, /HTTP 503/);
      assert.match(r.message, /startTimeoutSeconds/);
    }
    await p.stop();
  });
});

describe('server process whose launcher exits', () => {
  it('stops the helpers its launcher left behind in the process group', async () => {
    const port = await freePort();
    const [node, script] = emulatorCommand('llama-server');
    // A launcher that starts the server and exits at once, as some wrapper scripts do.
    const launcher = `const { spawn } = require('node:child_process'); const c = spawn(${JSON.stringify(node)}, [${JSON.stringify(script)}, '--port', '${port}'], { stdio: 'ignore' }); console.log('child ' + c.pid); process.exit(0);`;
    const p = new ServerProcess({ command: node!, args: ['-e', launcher], healthUrl: null, settleMs: 50, startTimeoutMs: 5000, stopTimeoutMs: 2000 });
    let out = '';
    p.on('output', (t) => (out += t));
    const started = p.start();
    pids.add(p.pid);
    await started;
    const child = Number((await pollUntil(() => /child (\d+)/.exec(out), 'the launcher to print its child'))[1]);
    pids.add(child);
    await p.exited();
    await pollUntil(async () => (await fetch(`http://127.0.0.1:${port}/health`).catch(() => null))?.status === 200, 'the orphaned server to answer', 10_000);
    const stop = await p.stop();
    assert.equal(stop.how, 'SIGTERM');
    assert.equal(await isRunning(child), false);
  });
});
