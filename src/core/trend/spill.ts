/**
 * System RAM and swap judged beside VRAM. Two events, each told once until memory recovers:
 *  - a *spill*: within `windowMs` (10 min), swap goes from empty (≤ 64 MiB) to 256 MiB or more, or RAM
 *    used rises by max(1 GiB, 20 % of RAM) — field note 001's cascade: RAM 789 MB → 6 GB and swap
 *    0 → 1.3 GB within minutes, as a GPU program retried on the CPU side;
 *  - *low RAM*: available RAM below `minAvailableMiB`.
 * Pure: fed (time, RAM and swap) as they are read; the caller names the process that grew.
 */
import type { SystemMemory } from '../history/types.ts';
import { MiB } from '../units.ts';

export interface SpillOptions {
  /** How quickly the rise must come (default 10 min). */
  windowMs?: number;
  /** Available RAM below this is an event (MiB; default 512; 0: never). */
  minAvailableMiB?: number;
}

export interface SystemEvent {
  kind: 'spill' | 'low-ram';
  /** When the rise began (the lowest point in the window) and when it was seen. */
  start: number;
  end: number;
  ramFromMiB: number;
  ramToMiB: number;
  swapFromMiB: number;
  swapToMiB: number;
  ramTotalMiB: number;
  text: string;
}

interface Point {
  t: number;
  ram: number;
  swap: number;
}

const EMPTY_SWAP_MIB = 64;
const SWAP_RISE_MIB = 256;

const size = (mib: number) => (mib >= 1024 ? `${(mib / 1024).toFixed(1)} GiB` : `${Math.round(mib)} MiB`);

export class SpillDetector {
  private readonly window: Point[] = [];
  private readonly options: Required<SpillOptions>;
  private spilling = false;
  private low = false;

  constructor(options: SpillOptions = {}) {
    this.options = { windowMs: 10 * 60_000, minAvailableMiB: 512, ...options };
  }

  set(options: SpillOptions): void {
    Object.assign(this.options, options);
  }

  /** One reading; the events it completes. Readings earlier than the last are ignored. */
  observe(t: number, m: SystemMemory): SystemEvent[] {
    const last = this.window[this.window.length - 1];
    if (last && t < last.t) return [];
    const p: Point = { t, ram: m.ramUsed / MiB, swap: m.swapUsed / MiB };
    this.window.push(p);
    while (this.window.length > 1 && (this.window[0] as Point).t < t - this.options.windowMs) this.window.shift();
    if (this.window.length > 4096) this.window.splice(0, this.window.length - 4096);
    const ramTotal = m.ramTotal / MiB;
    const out: SystemEvent[] = [];
    // The lowest points of the window: where a rise to now began.
    let ramLow = p;
    let swapLow = p;
    for (const q of this.window) {
      if (q.ram <= ramLow.ram) ramLow = q;
      if (q.swap <= swapLow.swap) swapLow = q;
    }
    const ramRise = p.ram - ramLow.ram;
    const swapFilled = swapLow.swap <= EMPTY_SWAP_MIB && p.swap - swapLow.swap >= SWAP_RISE_MIB;
    const ramJump = ramRise >= Math.max(1024, ramTotal * 0.2);
    if ((swapFilled || ramJump) && !this.spilling) {
      this.spilling = true;
      const from = swapFilled && (!ramJump || swapLow.t < ramLow.t) ? swapLow : ramLow;
      const parts = [`RAM ${size(from.ram)} → ${size(p.ram)}`, `swap ${size(from.swap)} → ${size(p.swap)}`];
      out.push({
        kind: 'spill',
        start: from.t,
        end: t,
        ramFromMiB: from.ram,
        ramToMiB: p.ram,
        swapFromMiB: from.swap,
        swapToMiB: p.swap,
        ramTotalMiB: ramTotal,
        text: `${parts.join(' and ')} within ${Math.max(1, Math.round((t - from.t) / 60_000))} min`,
      });
    } else if (this.spilling && p.swap <= EMPTY_SWAP_MIB && ramRise < 512) this.spilling = false;
    const available = ramTotal - p.ram;
    const min = this.options.minAvailableMiB;
    if (min > 0 && available < min && !this.low) {
      this.low = true;
      out.push({
        kind: 'low-ram',
        start: t,
        end: t,
        ramFromMiB: p.ram,
        ramToMiB: p.ram,
        swapFromMiB: p.swap,
        swapToMiB: p.swap,
        ramTotalMiB: ramTotal,
        text: `only ${size(available)} of RAM available (of ${size(ramTotal)}), less than ${size(min)}`,
      });
    } else if (this.low && available >= min * 1.25) this.low = false;
    return out;
  }
}
