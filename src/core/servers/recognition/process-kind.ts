/**
 * One kind of GPU process: how it is recognised from /proc (program, arguments), the model it
 * serves, and whether it is a model server VRAM Guard can size and ask (its server kind). The
 * recogniser walks the registry (kinds.ts) in order; the first kind that recognises a process names it.
 */
import type { ServerKind } from '../kinds/server-kind.ts';
import type { ProcessFacts } from './proc-facts.ts';

export interface KindMatch {
  /** "serve" or "runner" (Ollama), "gpu-process" (a browser); null when the kind has one role. */
  role: string | null;
  /** The model it serves (`-m`/`--model`, vLLM's positional model); null when the arguments do not say. */
  model: string | null;
}

export interface ProcessKind {
  /** The name the ledger, JSON and exporter labels use: "llama-server", "ollama", "desktop" ... */
  id: string;
  /** A few words for people: "llama.cpp server". */
  label: string;
  /** The model-server kind, when it is one (its adapter reads its API, the gate sizes it). */
  serverKind: ServerKind | null;
  /** Whether its listening ports are worth reading (servers: yes; the desktop: no). */
  listens: boolean;
  recognise(p: ProcessFacts): KindMatch | null;
  /** A process in `role` holds the memory but its parent, in `parentRole`, serves the API (an Ollama runner and `ollama serve`). */
  apiInParent?: { role: string; parentRole: string };
  /** Turns the model the arguments give into the name people know it by (an Ollama blob → "llama3.2:3b"); null keeps it. */
  modelName?(model: string): Promise<string | null>;
}

const base = (path: string) => path.slice(path.lastIndexOf('/') + 1);

/** The program's file name: from exe, else the first argument, else comm. */
export function programName(p: ProcessFacts): string {
  if (p.exe) return base(p.exe);
  const argv0 = p.argv[0];
  if (argv0) return base(argv0.split(' ')[0] ?? argv0);
  return p.comm ?? '';
}

/** The names the process goes by: the executable's and the first argument's (a symlinked or renamed binary differs). */
export function programNames(p: ProcessFacts): string[] {
  const out = new Set<string>();
  if (p.exe) out.add(base(p.exe));
  const argv0 = p.argv[0];
  if (argv0) out.add(base(argv0));
  if (p.comm) out.add(p.comm);
  return [...out];
}

/** The value of an option (`-m X`, `--model X`, `--model=X`); the last one wins, as in the servers' parsers. */
export function optionValue(argv: readonly string[], names: readonly string[]): string | null {
  let found: string | null = null;
  for (let i = 1; i < argv.length; i++) {
    const a = argv[i] ?? '';
    for (const n of names) {
      if (a === n && i + 1 < argv.length) found = argv[i + 1] ?? null;
      else if (n.startsWith('--') && a.startsWith(`${n}=`)) found = a.slice(n.length + 1);
    }
  }
  return found;
}

const PYTHON = /^python(\d+(\.\d+)?)?$/;

/** For a Python process: what it runs (`-m module` or the script), with the rest of the arguments; null for other programs. */
export function pythonTarget(p: ProcessFacts): { target: string; args: string[] } | null {
  if (!programNames(p).some((n) => PYTHON.test(n))) return null;
  const argv = p.argv;
  for (let i = 1; i < argv.length; i++) {
    const a = argv[i] ?? '';
    if (a === '-m' || a === '-c') return { target: `${a === '-m' ? '' : '-c '}${argv[i + 1] ?? ''}`, args: argv.slice(i + 2) };
    if (!a.startsWith('-')) return { target: a, args: argv.slice(i + 1) };
  }
  return { target: '', args: [] };
}

/** Whether the process is Python (its interpreter's name). */
export const isPython = (p: ProcessFacts): boolean => programNames(p).some((n) => PYTHON.test(n));
