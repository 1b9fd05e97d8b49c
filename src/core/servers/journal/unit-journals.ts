/**
 * The journals of the systemd user units that hold a GPU: for each GPU process started outside
 * VRAM Guard whose cgroup names a `.service` user unit of this user (recognition/proc-facts.ts), one
 * journal follower for that unit (journal-follower.ts), stopped when no GPU process of the unit is
 * left or on `dispose`. A cascade in a unit's journal is reported as a task's is — the history marks
 * it, the notification names it, the fallback chain's `cascade` steps act on that unit's process.
 * A unit whose journal could not be followed (journalctl missing or ended, a refused name) is not
 * tried again while its process lives; journalctl missing is told once for all units.
 */
import { errorMessage } from '../../errors.ts';
import type { CascadeRule } from '../cascade-detector.ts';
import type { ProcessRecognition } from '../recognition/recogniser.ts';
import type { ServerCascade } from '../server-registry.ts';
import { JournalFollower } from './journal-follower.ts';

export interface UnitJournalsOptions {
  /** The processes on a GPU, recognised (outside-processes.ts). */
  processes: (gpu: number) => Promise<ProcessRecognition[]>;
  report: (c: ServerCascade) => void;
  say: (message: string) => void;
  /** The user VRAM Guard runs as; only this user's units have a `journalctl --user`. */
  uid?: number | null;
  /** journalctl's path (default: found on PATH). */
  program?: string;
  rule?: CascadeRule;
  maxLinesPerSecond?: number;
  maxLineBytes?: number;
  now?: () => number;
  /** Updates closer together than this are skipped (default 5 s): the samples come every second. */
  minIntervalMs?: number;
}

interface Followed {
  follower: JournalFollower;
  /** The process it was started for, and the GPU. */
  pid: number;
  startedAt: number | null;
  gpu: number;
}

export class UnitJournals {
  private readonly options: UnitJournalsOptions;
  private readonly followed = new Map<string, Followed>();
  private updating: Promise<void> | null = null;
  private disposed = false;
  private journalctlMissing = false;
  private lastUpdate = Number.NEGATIVE_INFINITY;
  private failing = false;

  constructor(options: UnitJournalsOptions) {
    this.options = options;
  }

  /** The units whose journals are followed now. */
  units(): string[] {
    return [...this.followed.entries()].filter(([, f]) => !f.follower.ended).map(([u]) => u);
  }

  follower(unit: string): JournalFollower | undefined {
    return this.followed.get(unit)?.follower;
  }

  /**
   * Looks at the GPUs' processes again; a call while one runs, or within `minIntervalMs` of the last
   * (unless `force`), is skipped: the next sample brings it.
   */
  update(gpus: readonly number[], force = false): Promise<void> {
    if (this.updating) return this.updating;
    const t = (this.options.now ?? Date.now)();
    if (!force && t - this.lastUpdate < (this.options.minIntervalMs ?? 5000)) return Promise.resolve();
    this.lastUpdate = t;
    this.updating = this.refresh(gpus)
      .then(
        () => {
          this.failing = false;
        },
        (err: unknown) => {
          // Told once until an update succeeds again.
          if (!this.failing) this.options.say(`the GPU's processes could not be read for their units' journals: ${errorMessage(err)}`);
          this.failing = true;
        },
      )
      .finally(() => {
        this.updating = null;
      });
    return this.updating;
  }

  async dispose(): Promise<void> {
    this.disposed = true;
    await this.updating?.catch(() => {});
    const all = [...this.followed.values()];
    this.followed.clear();
    await Promise.all(all.map((f) => f.follower.stop()));
  }

  private async refresh(gpus: readonly number[]): Promise<void> {
    const uid = this.options.uid === undefined ? (process.getuid?.() ?? null) : this.options.uid;
    const wanted = new Map<string, { r: ProcessRecognition; gpu: number }>();
    for (const gpu of gpus) {
      for (const r of await this.options.processes(gpu)) {
        const unit = r.unit;
        if (unit?.scope !== 'user' || !unit.name.endsWith('.service') || r.startedBy === 'task') continue;
        if (uid === null || r.uid !== uid || wanted.has(unit.name)) continue;
        wanted.set(unit.name, { r, gpu });
      }
    }
    if (this.disposed) return;
    const stopping: Promise<void>[] = [];
    for (const [unit, f] of this.followed) {
      const now = wanted.get(unit);
      // Gone, or another process of the unit (restarted): a fresh follower for a new process.
      if (!now || (f.follower.ended && (now.r.pid !== f.pid || now.r.startedAt !== f.startedAt))) {
        this.followed.delete(unit);
        stopping.push(f.follower.stop());
      }
    }
    for (const [unit, { r, gpu }] of wanted) if (!this.followed.has(unit) && !this.journalctlMissing) this.follow(unit, r, gpu);
    await Promise.all(stopping);
  }

  private follow(unit: string, r: ProcessRecognition, gpu: number): void {
    const kind = r.serverKind ?? r.kind;
    const follower = new JournalFollower({
      unit,
      program: this.options.program,
      rule: this.options.rule,
      maxLinesPerSecond: this.options.maxLinesPerSecond,
      maxLineBytes: this.options.maxLineBytes,
      now: this.options.now,
      onCascade: (cascade, last, pid) => this.options.report({ server: unit, kind, pid: pid ?? r.pid, gpu, cascade, last }),
      say: (m) => {
        // journalctl missing is told once, not once per unit.
        if (follower.programMissing) {
          if (this.journalctlMissing) return;
          this.journalctlMissing = true;
        }
        this.options.say(m);
      },
    });
    this.followed.set(unit, { follower, pid: r.pid, startedAt: r.startedAt, gpu });
    follower.start();
  }
}
