/**
 * The real llama.cpp `llama-server` and `llama-fit-params` in tests: the CPU-only build `npm run
 * setup:llama` makes (a missing build fails the test with how to make it), a tiny generated model
 * it loads (a Llama shape, 8 layers, embedding 1024, a real byte vocabulary, zero weights, written
 * sparse), and a server started on a port the kernel chooses.
 *
 * The port: llama-server accepts `--port 0` and binds a free port itself, but prints it only after
 * the model has loaded ("listening on http://127.0.0.1:PORT"). Its socket is bound and answering
 * before the load starts, so the helper reads the port from /proc (the listening TCP socket among the
 * process's file descriptors) as soon as it is there: no port is picked, freed and handed over, so no
 * other process can take it in between. (A `vram-guard` task names its port in its definition, as a
 * user's does: those tests pick a free one with `freePort`, the one racy step left.)
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { serverBinaries } from '../../scripts/llama/server-build.ts';
import { LLAMA_SETUP_HINT } from '../../scripts/llama/paths.ts';
import { readListeningSockets, socketInodes } from '../../src/core/servers/recognition/proc-facts.ts';
import { writeGguf } from './gguf-fixtures.ts';
import { spmByteVocab } from './gguf-vocab.ts';
import { pollUntil } from './servers.ts';
import { transformerModel } from './truth-models.ts';

/** The built programs; throws with how to build them when they are not there. */
export function realLlama(): { server: string; fitParams: string } {
  for (const path of Object.values(serverBinaries))
    if (!existsSync(path)) throw new Error(`The real llama.cpp is not built (${path} is missing): run ${LLAMA_SETUP_HINT}.`);
  return serverBinaries;
}

/** Shapes small enough to load for real on a 2-core CI machine in well under a second. */
export async function tinyLlamaModel(name = 'tiny-llama', context = 8192): Promise<string> {
  const spec = transformerModel({
    arch: 'llama',
    name,
    layers: 8,
    embd: 1024,
    vocab: 4096,
    context,
    heads: 16,
    kvHeads: 4,
    headDim: 64,
    ff: 2816,
    recipe: 'q4_k_m',
    metadata: { 'llama.rope.dimension_count': 64, 'llama.attention.layer_norm_rms_epsilon': 1e-5 },
  });
  Object.assign(spec.metadata, spmByteVocab(4096));
  return writeGguf(name, spec, { sparse: true });
}

/** The TCP port `pid` listens on, read from /proc; null while it has none. */
export async function listeningPort(pid: number): Promise<number | null> {
  const inodes = await socketInodes(pid);
  if (!inodes?.length) return null;
  const listening = await readListeningSockets();
  for (const inode of inodes) {
    const port = listening.get(inode);
    if (port) return port;
  }
  return null;
}

export interface RealLlamaServer {
  child: ChildProcess;
  pid: number;
  port: number;
  baseUrl: string;
  /** Everything it printed so far (stdout and stderr), line by line. */
  lines: string[];
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Resolves when /health answers 200. */
  ready(timeoutMs?: number): Promise<void>;
  /** SIGTERM to its process group, then SIGKILL if it is still there after `graceMs`. */
  stop(graceMs?: number): Promise<void>;
}

/**
 * Starts llama-server on 127.0.0.1, a port of the kernel's choosing, with `args` (the model and the
 * rest), in a process group of its own; resolves once its port is known (it may still be loading).
 */
export async function startRealLlamaServer(args: readonly string[], options: { env?: NodeJS.ProcessEnv } = {}): Promise<RealLlamaServer> {
  const { server } = realLlama();
  const child = spawn(server, ['--host', '127.0.0.1', '--port', '0', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
    env: options.env ?? process.env,
  });
  const lines: string[] = [];
  for (const stream of [child.stdout, child.stderr]) {
    let partial = '';
    stream?.on('data', (chunk: Buffer) => {
      const parts = (partial + chunk.toString('utf8')).split('\n');
      partial = parts.pop() ?? '';
      lines.push(...parts);
    });
  }
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  let gone = false;
  void exited.then(() => (gone = true));
  const pid = child.pid;
  if (pid === undefined) throw new Error(`${server} could not be started`);
  const port = await pollUntil(
    async () => {
      if (gone) throw new Error(`llama-server exited before it listened:\n${lines.slice(-15).join('\n')}`);
      return listeningPort(pid);
    },
    'llama-server to bind its port',
    30_000,
  ).catch((err: Error) => {
    stopGroup(pid);
    throw err;
  });
  const baseUrl = `http://127.0.0.1:${port}`;
  return {
    child,
    pid,
    port,
    baseUrl,
    lines,
    exited,
    ready: async (timeoutMs = 60_000) => {
      await pollUntil(
        async () => {
          if (gone) throw new Error(`llama-server exited while loading:\n${lines.slice(-15).join('\n')}`);
          return (await fetch(`${baseUrl}/health`)).status === 200;
        },
        'llama-server to load its model (/health 200)',
        timeoutMs,
      );
    },
    stop: async (graceMs = 10_000) => {
      if (gone) return;
      stopGroup(pid, 'SIGTERM');
      const timer = setTimeout(() => stopGroup(pid), graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
}

function stopGroup(pid: number, signal: NodeJS.Signals = 'SIGKILL'): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // gone
  }
}

/** A private folder for a test's files (the caller removes it). */
export const privateDir = (): Promise<string> => mkdtemp(join(tmpdir(), 'vram-guard-llama-'));

/**
 * The buffers the final load printed (`-v`), in MiB: each model buffer by its type, the KV cache,
 * the output and the compute buffers; a later figure for the same buffer replaces an earlier one
 * (the `--fit` pass prints them first, with no model data). A CUDA build allocates these on the GPU.
 */
export function printedBufferMiB(lines: readonly string[]): number {
  const last = new Map<string, number>();
  const buffer = /^.*?\b(load_tensors|llama_kv_cache|llama_context|sched_reserve): +(\S+) +(model|KV|output|compute) buffer size = +([\d.]+) MiB/;
  for (const line of lines) {
    const m = buffer.exec(line);
    if (m) last.set(`${m[1]} ${m[2]} ${m[3]}`, Number(m[4]));
  }
  return [...last.values()].reduce((a, b) => a + b, 0);
}

/**
 * A real load report: llama-server started with `-v` on `model` and `args`, stopped once it has
 * loaded; its output is written to `path` (a test's private folder) and returned.
 */
export async function realLoadLog(model: string, args: readonly string[], path: string): Promise<{ path: string; lines: string[] }> {
  const server = await startRealLlamaServer(['-m', model, ...args, '-v']);
  try {
    await server.ready();
  } finally {
    await server.stop();
  }
  await writeFile(path, `${server.lines.join('\n')}\n`);
  return { path, lines: server.lines };
}
