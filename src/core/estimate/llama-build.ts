/**
 * Which llama.cpp build a task's llama-server is, from `llama-server --version`, so the estimate
 * sizes the graph and the `-ngl` placement of that build instead of always v0.5.0's. llama.cpp
 * prints (common/build-info.cpp.in `llama_print_build_info`, to stderr):
 *
 * - builds before the semantic versions: `version: 7400 (a1b2c3d4)`: the build number decides the
 *   graph era (`llamaGraphEra`) and whether `-ngl` counts the output layer first
 *   (`offloadsOutputLayerFirst`);
 * - v0.5.0 and later: `version: 0.5.0-dev (build 1, commit de3ff81)`: the semantic version decides
 *   (the build number of a shallow checkout says nothing); below 0.5.0 it is not placed, and the
 *   estimate stays v0.5.0's.
 *
 * It runs an executable, so only in a trusted workspace (the caller's rule, as for
 * llama-fit-params). One run per executable: the answer is kept by path, size and modification
 * time, so a rebuilt binary is asked again. One run is bounded: an argument array, 10 s, 64 KiB of
 * output, killed with its process group on overrun or abort. Never throws.
 */
import { stat } from 'node:fs/promises';
import { runBounded } from '../bounded-run.ts';
import { resolveCommand } from '../command-path.ts';
import { type LlamaGraphEra, llamaGraphEra } from './compute-buffer-size.ts';
import { offloadsOutputLayerFirst } from './weights-placement.ts';

export const VERSION_TIMEOUT_MS = 10_000;
export const VERSION_MAX_OUTPUT_BYTES = 64 * 1024;

export interface LlamaBuild {
  /** The `version:` line as printed. */
  readonly line: string;
  /** The build number of a build before the semantic versions; null for a semantic version. */
  readonly build: number | null;
  /** "0.5.0-dev"; null for a numbered build. */
  readonly version: string | null;
  readonly graph: LlamaGraphEra;
  readonly outputLayerFirst: boolean;
  /** For the report: "llama.cpp build 7400 (a1b2c3d4)". */
  readonly label: string;
}

export type LlamaBuildResult = { ok: true; build: LlamaBuild } | { ok: false; reason: string };

const NUMBERED = /^version: (\d+) \(([0-9a-f]+)\)\s*$/m;
const SEMANTIC = /^version: (\d+)\.(\d+)\.(\d+)(\S*) \(build (\d+), commit ([0-9a-zA-Z]+)\)\s*$/m;

/** The build a `--version` output names; null when it names none this reader knows. */
export function parseLlamaVersion(output: string): LlamaBuild | null {
  const n = NUMBERED.exec(output);
  if (n) {
    const build = Number(n[1]);
    return {
      line: n[0].trim(),
      build,
      version: null,
      graph: llamaGraphEra({ build }),
      outputLayerFirst: offloadsOutputLayerFirst({ build }),
      label: `llama.cpp build ${build} (${n[2]})`,
    };
  }
  const s = SEMANTIC.exec(output);
  if (s) {
    const [major, minor] = [Number(s[1]), Number(s[2])];
    // Semantic versions below 0.5.0 are not placed against the numbered builds: not recognized.
    if (major === 0 && minor < 5) return null;
    const version = `${s[1]}.${s[2]}.${s[3]}${s[4]}`;
    return { line: s[0].trim(), build: null, version, graph: 'current', outputLayerFirst: true, label: `llama.cpp ${version} (${s[6]})` };
  }
  return null;
}

export interface VersionRunOptions {
  env: NodeJS.ProcessEnv;
  cwd?: string;
  signal?: AbortSignal;
  timeoutMs?: number;
  maxOutputBytes?: number;
}

const said = (text: string) => {
  const first = text
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter(Boolean)
    .slice(-2)
    .join(' / ');
  return first ? `: "${first.length > 200 ? `${first.slice(0, 200)}…` : first}"` : '';
};

/** Runs `program --version` once, bounded, and reads the build; every failure is a reason. */
export async function runLlamaVersion(program: string, o: VersionRunOptions): Promise<LlamaBuildResult> {
  const timeoutMs = o.timeoutMs ?? VERSION_TIMEOUT_MS;
  const maxOutputBytes = o.maxOutputBytes ?? VERSION_MAX_OUTPUT_BYTES;
  const r = await runBounded(program, ['--version'], { env: o.env, cwd: o.cwd, signal: o.signal, timeoutMs, maxOutputBytes });
  const fail = (reason: string): LlamaBuildResult => ({ ok: false, reason });
  switch (r.kind) {
    case 'not-started':
      return fail(`${program} --version could not be started (${r.code ?? r.message})`);
    case 'timeout':
      return fail(`${program} --version gave no answer within ${timeoutMs / 1000} s and was killed with its process group`);
    case 'flood':
      return fail(`${program} --version printed more than ${maxOutputBytes / 1024} KiB and was killed with its process group`);
    case 'aborted':
      return fail(`${program} --version was stopped: the start was cancelled`);
  }
  const output = `${r.stdout}\n${r.stderr}`;
  const build = parseLlamaVersion(output);
  if (build) return { ok: true, build };
  if (r.code !== 0) return fail(`${program} --version exited with code ${r.code ?? r.signal}${said(r.stderr || r.stdout)}`);
  return fail(`${program} --version printed no llama.cpp version line ("version: N (commit)" or "version: X.Y.Z (build N, commit C)")${said(output)}`);
}

const MAX_CACHED = 64;
const cache = new Map<string, Promise<LlamaBuildResult>>();

/**
 * The build of the executable at `program` (an absolute path): asked once per path, size and
 * modification time. A file that cannot be read is a reason, not a run.
 */
export async function llamaServerBuild(program: string, o: VersionRunOptions): Promise<LlamaBuildResult> {
  let key: string;
  try {
    const st = await stat(program);
    key = `${program}\0${st.size}\0${st.mtimeMs}`;
  } catch (err) {
    return { ok: false, reason: `${program} cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})` };
  }
  let answer = cache.get(key);
  if (!answer) {
    answer = runLlamaVersion(program, o);
    if (cache.size >= MAX_CACHED) cache.delete(cache.keys().next().value as string);
    cache.set(key, answer);
    // An aborted run says nothing about the build: the next start asks again.
    void answer.then((r) => {
      if (!r.ok && o.signal?.aborted) cache.delete(key);
    });
  }
  return answer;
}

/**
 * The build of a task's llama-server as its command names it (a path, or a name looked up on
 * `PATH`); null when there is no such executable (nothing is run).
 */
export async function taskLlamaBuild(command: string, o: VersionRunOptions): Promise<LlamaBuildResult | null> {
  const found = await resolveCommand(command, o.env.PATH, o.cwd ?? process.cwd());
  if (!found.ok) return null;
  return llamaServerBuild(found.path, o);
}

/** The estimate's options for a build (nothing known: v0.5.0's). */
export function buildOptions(build: LlamaBuild | null): { graph?: LlamaGraphEra; outputLayerFirst?: boolean } {
  return build ? { graph: build.graph, outputLayerFirst: build.outputLayerFirst } : {};
}

/** The report's line on the build sized for. */
export function buildNote(result: LlamaBuildResult | null): string | null {
  if (!result) return null;
  if (!result.ok) return `sized for llama.cpp v0.5.0: the build of llama-server is not known (${result.reason})`;
  const b = result.build;
  const era =
    b.graph === 'current' && b.outputLayerFirst
      ? "v0.5.0's graph"
      : [b.graph === 'current' ? null : 'its graph before June 2026', b.outputLayerFirst ? null : '-ngl without the output layer first']
          .filter(Boolean)
          .join(', ');
  return `sized for ${b.label}, from llama-server --version (${era})`;
}
