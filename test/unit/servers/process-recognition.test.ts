/**
 * Every GPU process recognised: real processes under each kind's program name and arguments (a
 * small C program copied under the name), seen through /proc as a real server would be — kind,
 * model, listening port (picked by the OS), owner — and cached per (PID, start time).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, describe, it } from 'node:test';
import { ProcessRecogniser } from '../../../src/core/servers/recognition/recogniser.ts';
import { realProcReader, unitFromCgroup } from '../../../src/core/servers/recognition/proc-facts.ts';
import { buildGpuProcess, startAs, type StartedProcess } from '../../helpers/gpu-process.ts';

const started: Array<Pick<StartedProcess, 'stop'>> = [];
after(() => {
  for (const p of started) p.stop();
});

async function as(program: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<StartedProcess> {
  const p = await startAs(program, args, env);
  started.push(p);
  return p;
}

describe('recognising GPU processes from /proc', () => {
  it('names each kind with its model and the port it listens on', async () => {
    const cases: { program: string; args: string[]; env?: NodeJS.ProcessEnv; kind: string; role: string | null; model: string | null; listens: boolean }[] = [
      {
        program: 'llama-server',
        args: ['-m', '/models/qwen2.5-7b-q4_k_m.gguf', '-c', '8192', '--port', '0'],
        kind: 'llama-server',
        role: null,
        model: '/models/qwen2.5-7b-q4_k_m.gguf',
        listens: true,
      },
      { program: 'llama-server', args: ['--models-dir', '/models'], kind: 'llama-server', role: 'router', model: null, listens: true },
      { program: 'llama-cli', args: ['--model=/m/phi.gguf', '-p', 'hi'], kind: 'llama.cpp', role: 'llama-cli', model: '/m/phi.gguf', listens: false },
      { program: 'ollama', args: ['serve'], kind: 'ollama', role: 'serve', model: null, listens: true },
      {
        program: 'ollama',
        args: ['runner', '--model', '/root/.ollama/models/blobs/sha256-6a0746a1ec1a', '--port', '41235'],
        kind: 'ollama',
        role: 'runner',
        model: '/root/.ollama/models/blobs/sha256-6a0746a1ec1a',
        listens: true,
      },
      {
        program: 'whisper-server',
        args: ['-m', 'models/ggml-base.en.bin', '--port', '0'],
        kind: 'whisper-cpp',
        role: null,
        model: 'models/ggml-base.en.bin',
        listens: true,
      },
      {
        program: 'vllm',
        args: ['serve', 'Qwen/Qwen2.5-1.5B-Instruct', '--gpu-memory-utilization', '0.4'],
        kind: 'vllm',
        role: null,
        model: 'Qwen/Qwen2.5-1.5B-Instruct',
        listens: true,
      },
      {
        program: 'python3',
        args: ['-m', 'vllm.entrypoints.openai.api_server', '--model', 'facebook/opt-125m'],
        kind: 'vllm',
        role: null,
        model: 'facebook/opt-125m',
        listens: true,
      },
      {
        program: 'python3',
        args: ['-m', 'multiprocessing.spawn'],
        env: { FAKE_COMM: 'VLLM::EngineCor' },
        kind: 'vllm',
        role: 'EngineCor',
        model: null,
        listens: true,
      },
      {
        program: 'python3',
        args: ['-m', 'uvicorn', 'speaches.main:create_app', '--port', '0'],
        kind: 'faster-whisper',
        role: null,
        model: null,
        listens: true,
      },
      { program: 'python3', args: ['/opt/swictation/src/swictationd_nemo.py'], kind: 'nemo', role: null, model: null, listens: true },
      { program: 'python3', args: ['/home/me/ComfyUI/main.py', '--listen'], kind: 'comfyui', role: null, model: null, listens: true },
      { program: 'python3', args: ['train.py', '--model', 'resnet50'], kind: 'python', role: 'train.py', model: 'resnet50', listens: true },
      { program: 'Xorg', args: [':0', '-nolisten', 'tcp'], env: { FAKE_NO_LISTEN: '1' }, kind: 'desktop', role: 'Xorg', model: null, listens: false },
      { program: 'gnome-shell', args: [], env: { FAKE_NO_LISTEN: '1' }, kind: 'desktop', role: 'gnome-shell', model: null, listens: false },
      {
        program: 'firefox',
        args: ['-contentproc', '--type=gpu-process'],
        env: { FAKE_NO_LISTEN: '1' },
        kind: 'desktop',
        role: 'firefox gpu-process',
        model: null,
        listens: false,
      },
      { program: 'my-own-thing', args: [], kind: 'unknown', role: null, model: null, listens: false },
    ];
    const startedFrom = Date.now();
    const procs = await Promise.all(cases.map((c) => as(c.program, c.args, c.env)));
    const startedTo = Date.now();
    const recogniser = new ProcessRecogniser();
    const found = await recogniser.recognise(procs.map((p) => p.pid));
    cases.forEach((c, i) => {
      const p = procs[i]!;
      const r = found.get(p.pid)!;
      const what = `${c.program} ${c.args.join(' ')}`;
      assert.equal(r.kind, c.kind, what);
      assert.equal(r.role, c.role, what);
      assert.equal(r.model, c.model, what);
      assert.equal(r.program, c.program, what);
      assert.deepEqual(r.ports, c.listens ? [p.port] : [], what);
      assert.equal(r.uid, process.getuid!(), what);
      assert.equal(r.startedBy, 'outside', what);
      // /proc's start time (boot time in whole seconds + ticks) against this test's own clock.
      assert.ok(r.startedAt !== null && r.startedAt >= startedFrom - 1500 && r.startedAt <= startedTo + 1500, `${what}: started ${r.startedAt}`);
      assert.deepEqual(r.missing, [], what);
    });
  });

  it('caches per PID and start time: a refresh reads no cmdline, and a new process under a reused PID is read again', async () => {
    const server = await as('llama-server', ['-m', 'a.gguf']);
    const reads: string[] = [];
    let shiftStart = 0;
    // A reused PID is the same number with another start time (field 22 of stat): shift it to stand for one.
    const shifted = (text: string) => {
      if (!shiftStart) return text;
      const close = text.lastIndexOf(')');
      const f = text.slice(close + 2).split(' ');
      f[19] = String(Number(f[19]) + shiftStart);
      return `${text.slice(0, close + 2)}${f.join(' ')}`;
    };
    const counting = {
      ...realProcReader,
      read: async (path: string, max: number) => {
        reads.push(path);
        return realProcReader.read(path, max);
      },
      openSmall: async (path: string) => {
        const held = await realProcReader.openSmall(path);
        return {
          read: async () => {
            reads.push(`held ${path}`);
            return shifted(await held.read());
          },
          close: held.close,
        };
      },
    };
    const recogniser = new ProcessRecogniser({ reader: counting });
    await recogniser.recognise([server.pid]);
    assert.ok(reads.includes(`/proc/${server.pid}/cmdline`));
    reads.length = 0;
    const again = await recogniser.recognise([server.pid]);
    assert.equal(again.get(server.pid)!.model, 'a.gguf');
    assert.deepEqual(reads, [`held /proc/${server.pid}/stat`], 'a refresh reads the held stat, nothing else');
    shiftStart = 1;
    reads.length = 0;
    await recogniser.recognise([server.pid]);
    assert.ok(reads.includes(`/proc/${server.pid}/cmdline`), 'another start time: read again');
    recogniser.dispose();
  });

  it('finds a port opened after the first look, once the recheck time has passed', async () => {
    let now = 0;
    // Recognised first with no listening socket (as a server still loading is), then the same PID listens.
    const quiet = await as('whisper-server', ['-m', 'b.bin'], { FAKE_NO_LISTEN: '1' });
    const recogniser = new ProcessRecogniser({ now: () => now, portRecheckMs: 5000 });
    assert.deepEqual((await recogniser.recognise([quiet.pid])).get(quiet.pid)!.ports, []);
    // A listening server's port is what a recheck finds: use one that listens, seen first through a recogniser that has it cached without ports.
    const loud = await as('whisper-server', ['-m', 'b.bin']);
    let hideFds = true;
    const reader = { ...realProcReader, readdir: (path: string) => (hideFds ? Promise.resolve([]) : realProcReader.readdir(path)) };
    const later = new ProcessRecogniser({ now: () => now, portRecheckMs: 5000, reader });
    assert.deepEqual((await later.recognise([loud.pid])).get(loud.pid)!.ports, []);
    hideFds = false;
    now = 4000;
    assert.deepEqual((await later.recognise([loud.pid])).get(loud.pid)!.ports, [], 'not before the recheck time');
    now = 5000;
    assert.deepEqual((await later.recognise([loud.pid])).get(loud.pid)!.ports, [loud.port]);
  });

  it('says a process was started by vram-guard run when run is its parent', async () => {
    // The bundled CLI runs as `node …/cli.cjs run -- PROGRAM ARGS`: a script of that name that starts the stand-in stands for it.
    const dir = await mkdtemp(join(tmpdir(), 'vram-guard-run-parent-'));
    const server = join(dir, 'llama-server');
    await copyFile(await buildGpuProcess(), server);
    const cli = join(dir, 'cli.cjs');
    await writeFile(cli, "const { spawn } = require('node:child_process'); spawn(process.argv[4], process.argv.slice(5), { stdio: 'inherit' });\n");
    const parent = spawn(process.execPath, [cli, 'run', '--', server, '-m', 'c.gguf'], { stdio: ['pipe', 'pipe', 'inherit'] });
    started.push({ stop: () => parent.kill('SIGKILL') });
    await new Promise((r) => parent.stdout!.once('data', r));
    const childPid = Number((await readFile(`/proc/${parent.pid}/task/${parent.pid}/children`, 'utf8')).trim().split(' ')[0]);
    const found = await new ProcessRecogniser().recognise([childPid, parent.pid!]);
    assert.equal(found.get(childPid)!.kind, 'llama-server');
    assert.equal(found.get(childPid)!.startedBy, 'run');
    assert.equal(found.get(parent.pid!)!.startedBy, 'outside', 'run itself was started from outside');
    process.kill(childPid, 'SIGKILL');
  });

  it("names an Ollama runner's model from the manifests beside its blob", async () => {
    const models = await mkdtemp(join(tmpdir(), 'vram-guard-ollama-models-'));
    const hex = 'dde5aa3fc5ffc17176b5e8bdc82f587b24b2678c6c66101bf7da77af9f7ccdff';
    const other = 'a'.repeat(64);
    const manifest = (digest: string) =>
      JSON.stringify({ schemaVersion: 2, layers: [{ mediaType: 'application/vnd.ollama.image.model', digest: `sha256:${digest}`, size: 2019377376 }] });
    for (const [path, digest] of [
      ['registry.ollama.ai/library/llama3.2/3b', hex],
      ['registry.ollama.ai/library/qwen2.5/7b', other],
      ['hf.co/bartowski/Qwen2.5-0.5B-GGUF/Q4_K_M', other],
    ] as const) {
      await mkdir(join(models, 'manifests', dirname(path)), { recursive: true });
      await writeFile(join(models, 'manifests', path), manifest(digest));
    }
    const runner = await as('ollama', ['runner', '--model', join(models, 'blobs', `sha256-${hex}`), '--ctx-size', '8192', '--port', '0']);
    const unknown = await as('ollama', ['runner', '--model', join(models, 'blobs', `sha256-${'b'.repeat(64)}`), '--port', '0']);
    const found = await new ProcessRecogniser().recognise([runner.pid, unknown.pid]);
    assert.equal(found.get(runner.pid)!.model, 'llama3.2:3b');
    assert.equal(found.get(unknown.pid)!.model, join(models, 'blobs', `sha256-${'b'.repeat(64)}`), 'no manifest names it: the blob path stays');
  });

  it('reads the systemd unit from the cgroup path: user units, system units, and odd names', () => {
    assert.deepEqual(unitFromCgroup('0::/user.slice/user-1000.slice/user@1000.service/app.slice/ollama.service\n'), { name: 'ollama.service', scope: 'user' });
    assert.deepEqual(unitFromCgroup('0::/system.slice/ollama.service\n'), { name: 'ollama.service', scope: 'system' });
    assert.deepEqual(unitFromCgroup('0::/user.slice/user-1000.slice/user@1000.service/app.slice/llama@qwen\\x2d7b.service'), {
      name: 'llama@qwen\\x2d7b.service',
      scope: 'user',
    });
    assert.deepEqual(unitFromCgroup('12:name=systemd:/system.slice/whisper.service\n0::/'), null, 'v2 line without a unit wins');
    assert.deepEqual(unitFromCgroup('1:name=systemd:/system.slice/whisper.service\n'), { name: 'whisper.service', scope: 'system' });
    assert.equal(unitFromCgroup('0::/user.slice/user-1000.slice/user@1000.service'), null, 'the user manager itself');
    assert.equal(unitFromCgroup('0::/system.slice/bad name;rm -rf.service'), null);
    assert.equal(unitFromCgroup('0::/'), null);
  });
});
