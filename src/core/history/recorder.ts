/**
 * Feeds the history store: every watcher sample (with system RAM and swap, read at most once a
 * second, off the sample's path), every level change, every fallback step that ran, model
 * servers starting, becoming ready, stopping or failing, and CUDA-error cascades in their output.
 */
import { systemClock, type Clock } from '../clock.ts';
import type { FallbackEvent } from '../fallback/events.ts';
import type { ServerRegistry } from '../servers/server-registry.ts';
import { readSystemMemory } from './system-memory.ts';
import type { LevelTransition } from '../watch/classifier.ts';
import { cascadeEvent, fallbackEvent, type GpuMoment, historySampleOf, taskEvent, transitionEvent } from './events.ts';
import type { HistoryStore } from './store.ts';
import type { SystemMemory } from './types.ts';
import type { WatchedSample } from '../watch/watcher.ts';

/** Anything with the emitter's `on` for these events (the watcher, the chain). */
export interface EventSource<E extends Record<string, unknown[]>> {
  on<K extends keyof E>(event: K, listener: (...args: E[K]) => void): () => void;
}

export interface RecorderDeps {
  store: HistoryStore;
  watcher: EventSource<{ sample: [WatchedSample]; transition: [LevelTransition] }>;
  chain?: EventSource<{ event: [FallbackEvent] }>;
  registry?: ServerRegistry;
  readSystem?: () => Promise<SystemMemory | null>;
  /** How often RAM and swap are read at most (default 1000 ms). */
  systemEveryMs?: number;
  clock?: Clock;
}

const TASK_STATES = new Set(['ready', 'restarting', 'stopped', 'exited', 'failed', 'refused']);

/** Starts recording; returns the function that stops it. */
export function recordHistory(deps: RecorderDeps): () => void {
  const clock = deps.clock ?? systemClock;
  const readSystem = deps.readSystem ?? (() => readSystemMemory());
  const every = deps.systemEveryMs ?? 1000;
  let system: SystemMemory | null = null;
  let lastRead = -Infinity;
  let reading = false;
  const refreshSystem = () => {
    if (reading || clock.now() - lastRead < every) return;
    reading = true;
    lastRead = clock.now();
    readSystem()
      .then((s) => {
        system = s;
      })
      .catch(() => {})
      .finally(() => {
        reading = false;
      });
  };
  refreshSystem();

  const offs: Array<() => void> = [];
  let latest: WatchedSample | null = null;
  offs.push(
    deps.watcher.on('sample', (w) => {
      latest = w;
      deps.store.record(historySampleOf(w.sample, system));
      refreshSystem();
    }),
    deps.watcher.on('transition', (t) => deps.store.recordEvent(transitionEvent(t))),
  );
  if (deps.chain) {
    offs.push(
      deps.chain.on('event', (e) => {
        const event = fallbackEvent(e);
        if (event) deps.store.recordEvent(event);
      }),
    );
  }
  const registry = deps.registry;
  if (registry) {
    const states = new Map<string, string>();
    const tasks = new Set<string>();
    for (const s of registry.all()) states.set(s.name, s.state);
    offs.push(
      registry.on('changed', () => {
        const now = clock.now();
        for (const s of registry.all()) {
          if (states.get(s.name) === s.state) continue;
          states.set(s.name, s.state);
          if (TASK_STATES.has(s.state)) deps.store.recordEvent(taskEvent(now, s.name, s.state, s.task.gpu));
        }
        const current = new Set(
          registry
            .owners()
            .filter((o) => o.kind === 'task')
            .map((o) => o.name),
        );
        for (const name of current) if (!tasks.has(name)) deps.store.recordEvent(taskEvent(now, name, 'started', null));
        for (const name of tasks) if (!current.has(name)) deps.store.recordEvent(taskEvent(now, name, 'ended', null));
        tasks.clear();
        for (const name of current) tasks.add(name);
      }),
      registry.on('cascade', (c) => deps.store.recordEvent(cascadeEvent(c, momentOf(latest, c.gpu)))),
    );
  }
  return () => {
    for (const off of offs) off();
  };
}

/** A GPU's level and memory in the watcher's last sample; null when that sample does not read it. */
export function momentOf(w: WatchedSample | null, gpu: number): GpuMoment | null {
  if (!w) return null;
  const i = w.sample.devices.findIndex((d) => d.index === gpu);
  const memory = w.sample.devices[i]?.memory;
  return memory ? { level: w.levels[i] ?? 'ok', used: memory.used, total: memory.total } : null;
}
