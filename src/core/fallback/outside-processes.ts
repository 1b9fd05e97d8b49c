/**
 * What the outside executor acts on: the processes of one GPU in the latest sample, recognised from
 * /proc, less the roots of the servers tasks started (the task executor acts on those), and the
 * parent that serves the API of each process that holds the memory for it (its kind's `apiInParent`:
 * `ollama serve` for each Ollama runner). And the
 * user's Ollama URL setting, checked: only an http(s) URL, read from the user's own settings.
 */
import type { GpuSample } from '../gpu/types.ts';
import { readProcessFacts } from '../servers/recognition/proc-facts.ts';
import { PROCESS_KINDS } from '../servers/recognition/kinds.ts';
import type { ProcessRecogniser, ProcessRecognition } from '../servers/recognition/recogniser.ts';

/** Whose API is in its parent: a process in the role of its kind's `apiInParent`, or that parent. */
const apiRoles = (r: ProcessRecognition) => PROCESS_KINDS.find((k) => k.id === r.kind)?.apiInParent ?? null;

export function gpuProcesses(
  latest: () => GpuSample | null,
  recogniser: ProcessRecogniser,
  taskPids: () => Iterable<number> = () => [],
): (gpu: number) => Promise<ProcessRecognition[]> {
  return async (gpu) => {
    const device = latest()?.devices.find((d) => d.index === gpu);
    if (!device) return [];
    const ours = new Set(taskPids());
    const pids = device.processes.map((p) => p.pid).filter((pid) => !ours.has(pid));
    if (!pids.length) return [];
    const found = await recogniser.recognise(pids);
    // Only Ollama's runners hold the GPU; its API is their parent's, `ollama serve`.
    const runners = [...found.values()].filter((r) => r.role !== null && apiRoles(r)?.role === r.role);
    const parents = (await Promise.all(runners.map(async (r) => (await readProcessFacts(r.pid)).ppid))).filter(
      (ppid): ppid is number => ppid !== null && ppid > 1 && !found.has(ppid),
    );
    if (!parents.length) return [...found.values()];
    const withParents = await recogniser.recognise([...pids, ...new Set(parents)]);
    return [...withParents.values()].filter((r) => found.has(r.pid) || (r.role !== null && apiRoles(r)?.parentRole === r.role));
  };
}

/** `vramGuard.servers.ollamaUrl`: "" or absent → none; an http(s) URL → it, without a trailing "/"; else a sentence. */
export function ollamaUrlSetting(value: unknown): { url: string | null; problem: string | null } {
  if (value === undefined || value === null || value === '') return { url: null, problem: null };
  if (typeof value === 'string') {
    try {
      const url = new URL(value);
      if ((url.protocol === 'http:' || url.protocol === 'https:') && !url.username && !url.password && url.search === '' && url.hash === '')
        return { url: url.href.replace(/\/+$/, ''), problem: null };
    } catch {
      // said below
    }
  }
  return {
    url: null,
    problem: `vramGuard.servers.ollamaUrl must be an http(s) URL such as "http://127.0.0.1:11434", got ${JSON.stringify(value)}. It is ignored.`,
  };
}
