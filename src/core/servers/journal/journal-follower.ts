/**
 * Follows one systemd user unit's journal — `journalctl --user -u UNIT -f -o json -n 0
 * --output-fields=MESSAGE,_PID` (an argument array, the unit name checked first) — and puts each
 * entry's MESSAGE through the same CUDA-error cascade watch as a task's output and `vram-guard run`
 * (cascade-watch.ts). The cascade's seconds are the journal's own (`__REALTIME_TIMESTAMP`), so a
 * burst delivered late is judged at the rate it was logged.
 *
 * Bounded (journal-lines.ts): a line over 64 KiB is not parsed but scanned as it streams — an error
 * in a text MESSAGE inside a 1 MB line is still found (in a binary one it is not) — and at most
 * 5,000 lines a second are read, the rest counted as dropped and told at most once a minute.
 * journalctl runs in its own process group; `stop()` ends the group (SIGTERM, then SIGKILL after
 * 2 s) and resolves once no member of it runs. A journalctl that is missing or exits is told once, with its
 * last lines, and not started again; what an exited one left in its group is killed.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import type { Cascade, CascadeRule } from '../cascade-detector.ts';
import { CascadeWatch } from '../cascade-watch.ts';
import type { CudaErrorLine } from '../cuda-error-scanner.ts';
import { OutputLines } from '../output-lines.ts';
import { groupRunning, signalQuietly } from '../process-tree.ts';
import { waitFor } from '../server-process.ts';
import { unitNameProblem } from '../systemd-user-unit.ts';
import { parseJournalLine } from './journal-entry.ts';
import { JOURNAL_LINES_PER_SECOND, JournalLines } from './journal-lines.ts';

export interface JournalFollowerOptions {
  unit: string;
  /** The program (default "journalctl", found on PATH); the tests give a stand-in by path. */
  program?: string;
  rule?: CascadeRule;
  maxLineBytes?: number;
  maxLinesPerSecond?: number;
  /** The wall clock (rate limit, the notes, entries without a time). */
  now?: () => number;
  /** A cascade in the journal; `pid` is the entry's `_PID` when it has one. */
  onCascade: (cascade: Cascade, last: CudaErrorLine, pid: number | null) => void;
  /** A sentence for the log: journalctl missing or ended, lines dropped or cut. */
  say: (message: string) => void;
  /** How long the group gets after SIGTERM before SIGKILL (default 2 s). */
  stopTimeoutMs?: number;
}

/** The arguments journalctl is given for a unit (its name already checked). */
export function journalArgs(unit: string): string[] {
  return ['--user', '-u', unit, '-f', '-o', 'json', '-n', '0', '--output-fields=MESSAGE,_PID'];
}

const NOTE_EVERY_MS = 60_000;
const formatCount = (n: number) => n.toLocaleString('en-US');

export class JournalFollower {
  readonly unit: string;
  /** Why it stopped following by itself (not found, exited); null while it follows or after `stop()`. */
  ended: string | null = null;
  /** journalctl itself was not found (so no other unit's journal can be followed either). */
  programMissing = false;
  private readonly options: JournalFollowerOptions;
  private readonly now: () => number;
  private readonly lines: JournalLines;
  private readonly watch: CascadeWatch;
  private readonly stderr = new OutputLines({ keep: 3, maxLineChars: 300 });
  private child: ChildProcess | null = null;
  private closed: Promise<void> = Promise.resolve();
  private stopping = false;
  /** The time the cascade watch counts in: the entry's, else the wall clock. */
  private entryTime = 0;
  private lastPid: number | null = null;
  private told = { dropped: 0, long: 0, unreadable: 0, at: Number.NEGATIVE_INFINITY };
  /** Lines that were not journal JSON. */
  unreadable = 0;

  constructor(options: JournalFollowerOptions) {
    this.options = options;
    this.unit = options.unit;
    this.now = options.now ?? Date.now;
    this.watch = new CascadeWatch({
      rule: options.rule,
      now: () => this.entryTime,
      onCascade: (cascade, last) => options.onCascade(cascade, last, this.lastPid),
    });
    this.lines = new JournalLines({
      maxLineBytes: options.maxLineBytes,
      maxLinesPerSecond: options.maxLinesPerSecond,
      now: this.now,
      onLine: (line) => this.entry(line),
      onLongPiece: (piece, end) => {
        this.entryTime = this.now();
        this.watch.push(piece, 'long');
        if (end) this.watch.push('\n', 'long');
      },
    });
  }

  /** Lines read, cut and dropped so far. */
  get counts(): { read: number; long: number; dropped: number; unreadable: number; errors: number } {
    return { read: this.lines.read, long: this.lines.long, dropped: this.lines.dropped, unreadable: this.unreadable, errors: this.watch.errors };
  }

  /** Starts journalctl; a refused unit name or a missing program ends it at once (`ended` says why). */
  start(): void {
    const bad = unitNameProblem(this.unit);
    if (bad) {
      this.end(`${bad}; its journal is not followed`);
      return;
    }
    const program = this.options.program ?? 'journalctl';
    const child = spawn(program, journalArgs(this.unit), { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    this.child = child;
    // A program that cannot start emits 'error' (and no 'close' on every Node).
    this.closed = new Promise((resolve) => {
      child.once('close', () => resolve());
      child.once('error', () => resolve());
    });
    child.stdout?.on('data', (chunk: Buffer) => {
      this.lines.push(chunk);
      this.note(false);
    });
    child.stderr?.on('data', (chunk: Buffer) => this.stderr.push(chunk.toString('utf8'), 'stderr'));
    child.once('error', (err: NodeJS.ErrnoException) => {
      this.programMissing = err.code === 'ENOENT';
      this.end(
        err.code === 'ENOENT'
          ? `${program} was not found: the journal of ${this.unit} is not watched for CUDA errors (it needs systemd's journalctl on the PATH)`
          : `${program} could not be started for ${this.unit} (${err.message}): its journal is not watched for CUDA errors`,
      );
    });
    child.once('close', (code, signal) => {
      // journalctl ended: whatever it left in its group goes with it.
      if (child.pid) signalQuietly(-child.pid, 'SIGKILL');
      // Stopped by us, its last write may be cut mid-line: that fragment is not an unreadable entry.
      if (this.stopping) this.lines.cut();
      else this.lines.end();
      this.note(true);
      if (this.stopping || this.ended) return;
      const last = this.stderr.last().filter(Boolean).join(' | ');
      this.end(
        `journalctl for ${this.unit} ended (${signal ? `by ${signal}` : `exit code ${code}`})${last ? `: ${last}` : ''}; its journal is no longer watched for CUDA errors`,
      );
    });
  }

  /** Ends journalctl's process group (SIGTERM, then SIGKILL) and resolves once no member runs. */
  async stop(): Promise<void> {
    this.stopping = true;
    const pgid = this.child?.pid;
    if (!pgid) return;
    if (!(await groupRunning(pgid))) return this.closed;
    signalQuietly(-pgid, 'SIGTERM');
    const timeout = this.options.stopTimeoutMs ?? 2000;
    if (!(await waitFor(async () => !(await groupRunning(pgid)), timeout))) {
      signalQuietly(-pgid, 'SIGKILL');
      await waitFor(async () => !(await groupRunning(pgid)), 2000);
    }
    await this.closed;
  }

  /** journalctl's PID while it runs (for the tests' process-group checks). */
  get pid(): number | null {
    return this.child?.pid ?? null;
  }

  private entry(line: Buffer): void {
    const e = parseJournalLine(line.toString('utf8'));
    if (!e) {
      if (line.length) this.unreadable++;
      return;
    }
    if (e.message === null) return;
    this.entryTime = e.at ?? this.now();
    this.lastPid = e.pid;
    this.watch.push(e.message, 'message');
    // Each entry is one line, whatever its MESSAGE ends with.
    this.watch.push('\n', 'message');
  }

  private end(reason: string): void {
    if (this.ended) return;
    this.ended = reason;
    this.options.say(reason);
  }

  /** Tells what was dropped, cut or unreadable since the last note: at most once a minute, and at the end. */
  private note(final: boolean): void {
    const { dropped, long } = this.lines;
    const t = this.now();
    if (dropped === this.told.dropped && long === this.told.long && this.unreadable === this.told.unreadable) return;
    if (!final && t - this.told.at < NOTE_EVERY_MS) return;
    const parts: string[] = [];
    if (dropped > this.told.dropped)
      parts.push(
        `${formatCount(dropped - this.told.dropped)} lines dropped unread (more than ${formatCount(this.options.maxLinesPerSecond ?? JOURNAL_LINES_PER_SECOND)} a second)`,
      );
    if (long > this.told.long) parts.push(`${formatCount(long - this.told.long)} over-long lines scanned for errors without being parsed`);
    if (this.unreadable > this.told.unreadable) parts.push(`${formatCount(this.unreadable - this.told.unreadable)} lines that were not journal JSON`);
    this.told = { dropped, long, unreadable: this.unreadable, at: t };
    this.options.say(`journal of ${this.unit}: ${parts.join('; ')}`);
  }
}
