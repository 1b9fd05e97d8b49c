/**
 * GPU processes VRAM Guard did not start, for the dashboard's process table: real processes (the
 * stand-in of test/helpers/gpu-process.ts) under the programs and arguments a user's servers have —
 * `ollama serve` and the runner it starts with a model from its store, a faster-whisper server
 * (wyoming-faster-whisper under python3), a llama-server and the desktop's Xorg — with the VRAM the
 * fake NVML is to list for each, and what the table must say of each as /proc shows it.
 */
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { FakeProcess } from '../helpers/fake-nvml.ts';
import { startAs, type StartedProcess } from '../helpers/gpu-process.ts';
import { pollUntil } from '../helpers/servers.ts';

const MiB = 1024 ** 2;

export interface OutsideProcess {
  pid: number;
  /** The program, as NVML names the process. */
  program: string;
  usedMiB: number;
  /** How the table's "Process" cell must begin: program, kind and role, model, port (a systemd unit may follow). */
  shows: string;
}

export interface OutsideServers {
  processes: OutsideProcess[];
  /** The fake NVML's process list: each process with its VRAM. */
  nvmlProcesses(): FakeProcess[];
  /** Stops every process started (by PID) and removes the private folder. */
  stop(): Promise<void>;
}

/** llama3.2:3b's model layer, as `ollama pull llama3.2:3b` stores it (its digest and size from the registry). */
const LLAMA32_3B = { digest: 'dde5aa3fc5ffc17176b5e8bdc82f587b24b2678c6c66101bf7da77af9f7ccdff', size: 2019377376 };

/** An Ollama model store holding the manifest of llama3.2:3b (the blob itself is not needed to name it). */
async function ollamaStore(dir: string): Promise<string> {
  const models = join(dir, 'ollama', 'models');
  const manifest = join(models, 'manifests', 'registry.ollama.ai', 'library', 'llama3.2', '3b');
  await mkdir(dirname(manifest), { recursive: true });
  await mkdir(join(models, 'blobs'), { recursive: true });
  await writeFile(
    manifest,
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.docker.distribution.manifest.v2+json',
      layers: [{ mediaType: 'application/vnd.ollama.image.model', digest: `sha256:${LLAMA32_3B.digest}`, size: LLAMA32_3B.size }],
    }),
  );
  return join(models, 'blobs', `sha256-${LLAMA32_3B.digest}`);
}

export async function startOutsideServers(): Promise<OutsideServers> {
  const dir = await mkdtemp(join(tmpdir(), 'vram-guard-e2e-outside-'));
  const started: StartedProcess[] = [];
  const children: number[] = [];
  const stop = async () => {
    for (const pid of children.splice(0)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    for (const p of started.splice(0)) p.stop();
    await rm(dir, { recursive: true, force: true });
  };
  try {
    const blob = await ollamaStore(dir);
    // `ollama serve` starts a runner per model: `ollama runner --model BLOB --ctx-size N --port N`, which holds the GPU memory.
    const serve = await startAs('ollama', ['serve'], { FAKE_CHILD: `runner --model ${blob} --ctx-size 8192 --port 0`, FAKE_CHILD_LISTEN: '1' });
    started.push(serve);
    const runnerPid = Number((await serve.printed(/child (\d+)/))[1]);
    children.push(runnerPid);
    const runnerPort = Number((await serve.printed(/child listening (\d+)/))[1]);
    // Between fork and exec the child is still a copy of `ollama serve`: NVML lists it once it runs as the runner.
    await pollUntil(async () => (await readFile(`/proc/${runnerPid}/cmdline`, 'utf8')).split('\0').includes('runner'), 'the Ollama runner to exec');
    const whisper = await startAs('python3', ['-m', 'wyoming_faster_whisper', '--model', 'distil-large-v3', '--uri', 'tcp://127.0.0.1:0', '--data-dir', dir]);
    started.push(whisper);
    const llamaModel = '/models/qwen2.5-1.5b-instruct-q4_k_m.gguf';
    const llama = await startAs('llama-server', ['-m', llamaModel, '-c', '8192', '-ngl', '99', '--port', '0']);
    started.push(llama);
    const xorg = await startAs('Xorg', [':0', '-nolisten', 'tcp'], { FAKE_NO_LISTEN: '1' });
    started.push(xorg);
    const processes: OutsideProcess[] = [
      { pid: runnerPid, program: 'ollama', usedMiB: 2838, shows: `ollama (ollama runner · llama3.2:3b · :${runnerPort}` },
      { pid: llama.pid, program: 'llama-server', usedMiB: 1432, shows: `llama-server (llama-server · ${llamaModel} · :${llama.port}` },
      { pid: whisper.pid, program: 'python3', usedMiB: 1116, shows: `python3 (faster-whisper · distil-large-v3 · :${whisper.port}` },
      { pid: xorg.pid, program: 'Xorg', usedMiB: 214, shows: 'Xorg (desktop Xorg' },
    ];
    return {
      processes,
      nvmlProcesses: () => processes.map((p) => ({ pid: p.pid, used: p.usedMiB * MiB, name: p.program })),
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
