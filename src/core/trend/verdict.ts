/**
 * One GPU's judgement in words, from its change points: "steady for 10 h 50 min — not a leak",
 * "+2838 MiB at 10:14: ollama (llama3.2:3b) loaded", "leaking 120 MiB/h since 09:00 in llama-server
 * (PID 5150) → full at about 14:30". Pure: the clock format is passed in (local time by default).
 */
import type { ChangePoints, Segment, SegmentProcess } from './change-points.ts';

export interface Leak {
  rateMiBPerHour: number;
  /** When the slope began (ms since the epoch). */
  since: number;
  /** When used memory reaches the total at this rate; null when the total is unknown. */
  oomAt: number | null;
  processes: SegmentProcess[];
}

export type VerdictKind = 'none' | 'short' | 'steady' | 'step' | 'burst' | 'rising' | 'falling' | 'leak';

export interface Verdict {
  kind: VerdictKind;
  text: string;
  /** The segment the words are about (the leak, the step, the burst, the start of the steady stretch). */
  segment: Segment | null;
  leak: Leak | null;
  /** How long usage has stayed level (ms), back from the end. */
  steadyForMs: number;
}

export interface VerdictOptions {
  /** "10:14": how a time of day is written (default: this machine's local time, HH:MM). */
  clock?: (t: number) => string;
  /** A step or burst this recent (ms before the end) is what the verdict says (default 1 h). */
  recentMs?: number;
  /** Shorter history cannot rule out a leak (default 15 min). */
  minLeakMs?: number;
}

const pad = (n: number) => String(n).padStart(2, '0');
export const localClock = (t: number): string => {
  const d = new Date(t);
  return `${pad(d.getHours())}:${pad(d.getMinutes())}`;
};
export const utcClock = (t: number): string => {
  const d = new Date(t);
  return `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}`;
};

/** "10 h 50 min", "4 min", "45 s". */
export function spanText(ms: number): string {
  if (ms < 60_000) return `${Math.max(0, Math.round(ms / 1000))} s`;
  const minutes = Math.floor(ms / 60_000);
  const h = Math.floor(minutes / 60);
  const m = minutes % 60;
  if (h === 0) return `${m} min`;
  if (h >= 48) return `${Math.floor(h / 24)} d ${h % 24} h`;
  return m ? `${h} h ${m} min` : `${h} h`;
}

/** "llama-server": a process's name without its folder. */
export function processLabel(p: SegmentProcess): string {
  const name = p.name?.trim() || `PID ${p.pid}`;
  const [cmd = name, ...rest] = name.split(' ');
  const short = cmd.includes('/') ? cmd.slice(cmd.lastIndexOf('/') + 1) : cmd;
  return [short, ...rest].join(' ');
}

const signed = (mib: number) => `${mib >= 0 ? '+' : '−'}${Math.abs(Math.round(mib))} MiB`;

/** What the process did in a step: loaded (new), exited (gone), grew or freed. */
function stepCause(p: SegmentProcess): string {
  const label = processLabel(p);
  if (p.deltaMiB > 0 && (p.usedMiB ?? 0) - p.deltaMiB <= 0) return `${label} loaded`;
  if (p.deltaMiB < 0 && (p.usedMiB ?? 0) <= 0) return `${label} (PID ${p.pid}) exited`;
  return `${label} ${p.deltaMiB > 0 ? 'grew' : 'freed'} ${Math.abs(Math.round(p.deltaMiB))} MiB`;
}

export function verdictOf(cp: ChangePoints, totalMiB: number | null, options: VerdictOptions = {}): Verdict {
  const clock = options.clock ?? localClock;
  const recentMs = options.recentMs ?? 3_600_000;
  const minLeakMs = options.minLeakMs ?? 15 * 60_000;
  const segs = cp.segments;
  const last = segs[segs.length - 1];
  const first = segs[0];
  if (!last || !first) return { kind: 'none', text: 'no samples to judge', segment: null, leak: null, steadyForMs: 0 };
  const end = last.end;
  // The steady stretch at the end: steady segments and the bursts inside them, at the last level.
  let k = segs.length - 1;
  let steadyFrom = end;
  while (k >= 0) {
    const s = segs[k] as Segment;
    if (s.kind === 'leak' || s.kind === 'step' || Math.abs(s.fromMiB - last.toMiB) >= cp.stepMiB) break;
    steadyFrom = s.start;
    k--;
  }
  const steadyForMs = end - steadyFrom;
  if (last.kind === 'leak') {
    const rate = last.rateMiBPerHour;
    const oomAt = totalMiB !== null && rate > 0 ? end + (Math.max(0, totalMiB - last.toMiB) / rate) * 3_600_000 : null;
    const leak: Leak = { rateMiBPerHour: rate, since: last.start, oomAt, processes: last.processes };
    const who = last.processes[0];
    const text = `leaking ${Math.round(rate)} MiB/h since ${clock(last.start)}${who ? ` in ${processLabel(who)} (PID ${who.pid})` : ''}${oomAt === null ? '' : oomAt - end < 20 * 3_600_000 ? ` → full at about ${clock(oomAt)}` : ` → full in about ${spanText(oomAt - end)}`}`;
    return { kind: 'leak', text, segment: last, leak, steadyForMs: 0 };
  }
  // The latest change that is not steady, if it is recent.
  const change = [...segs].reverse().find((s) => s.kind !== 'steady');
  if (change && (change.kind === 'step' || change.kind === 'burst') && end - change.end <= recentMs) {
    const who = change.processes[0];
    if (change.kind === 'burst') {
      const text = `burst ${signed(change.deltaMiB)} at ${clock(change.start)} for ${spanText(change.end - change.start)}${who ? ` (${processLabel(who)})` : ''}, back since — not a leak`;
      return { kind: 'burst', text, segment: change, leak: null, steadyForMs };
    }
    if (change === last && change.end - change.start > 2 * 60_000) {
      const rising = change.deltaMiB >= 0;
      const text = `${rising ? 'rising' : 'falling'} ${Math.abs(Math.round(change.rateMiBPerHour))} MiB/h since ${clock(change.start)}${who ? ` in ${processLabel(who)} (PID ${who.pid})` : ''}${rising ? ` — a leak if it lasts ${spanText(minLeakMs)}` : ' — memory being freed'}`;
      return { kind: rising ? 'rising' : 'falling', text, segment: change, leak: null, steadyForMs };
    }
    const text = `${signed(change.deltaMiB)} at ${clock(change.start)}${who ? `: ${stepCause(who)}` : ''}`;
    return { kind: 'step', text, segment: change, leak: null, steadyForMs };
  }
  if (end - first.start < minLeakMs)
    return { kind: 'short', text: `steady for ${spanText(steadyForMs)} — too soon to rule out a leak`, segment: segs[k + 1] ?? last, leak: null, steadyForMs };
  return { kind: 'steady', text: `steady for ${spanText(steadyForMs)} — not a leak`, segment: segs[k + 1] ?? last, leak: null, steadyForMs };
}

/** A chart marker's words for a step or the start of a leak: "+2838 MiB: ollama (llama3.2:3b) loaded", "leak starts: 120 MiB/h in llama-server (PID 5150)". */
export function segmentText(s: Segment): string {
  const who = s.processes[0];
  if (s.kind === 'leak') return `leak starts: ${Math.round(s.rateMiBPerHour)} MiB/h${who ? ` in ${processLabel(who)} (PID ${who.pid})` : ''}`;
  if (s.kind === 'burst') return `burst ${signed(s.deltaMiB)} for ${spanText(s.end - s.start)}${who ? ` (${processLabel(who)})` : ''}`;
  return `${signed(s.deltaMiB)}${who ? `: ${stepCause(who)}` : ''}`;
}
