/**
 * A task's restart policy (`"restart": "on-failure"`): a server that was ready once and then exits
 * with an error code or a signal, or fails to start again, is started again after a backoff (1 s
 * doubling to 5 min, restart-policy.ts), at most `maxRestartsPerHour` times in any hour, through
 * `start()`, so the VRAM gate is checked again before each restart. A stop that was asked for, or an
 * exit with code 0, is never restarted. When no restart is allowed, `onGiveUp` says so.
 */
import { type Clock, systemClock } from '../clock.ts';
import { formatDuration } from '../duration.ts';
import type { ManagedServer } from './managed-server.ts';
import { RestartPolicy } from './restart-policy.ts';

export interface TaskRestartOptions {
  clock?: Clock;
  /** A sentence for the task's terminal and the log. */
  say: (message: string) => void;
  /** No restart now (over the hourly limit): the task ends. */
  onGiveUp: () => void;
}

export class TaskRestarts {
  private readonly server: ManagedServer;
  private readonly options: TaskRestartOptions;
  private readonly clock: Clock;
  private readonly policy: RestartPolicy;
  private readonly off: () => void;
  private timer: unknown = null;
  private starting = false;
  private everReady = false;
  private runStartedAt: number | null = null;

  constructor(server: ManagedServer, options: TaskRestartOptions) {
    this.server = server;
    this.options = options;
    this.clock = options.clock ?? systemClock;
    this.policy = new RestartPolicy(server.task.restart.maxPerHour);
    this.off = server.on('state', (state) => this.onState(state));
  }

  /** A restart is waiting for its backoff or running: the task is not over. */
  get pending(): boolean {
    return this.timer !== null || this.starting;
  }

  dispose(): void {
    this.off();
    this.cancel();
  }

  private cancel(): void {
    if (this.timer !== null) this.clock.clearTimeout(this.timer);
    this.timer = null;
  }

  private onState(state: string): void {
    if (state === 'ready') {
      this.everReady = true;
      this.runStartedAt = this.clock.now();
      return;
    }
    if (state === 'stopping' || state === 'stopped') {
      this.cancel();
      return;
    }
    if (this.starting || !this.everReady || !this.server.task.restart.onFailure) return;
    if (state !== 'exited' && state !== 'failed') return;
    const exit = this.server.lastExit;
    if (state === 'exited' && exit && exit.exitCode === 0 && !exit.signal) return;
    this.schedule(exit?.signal ? `was ended by ${exit.signal}` : `exited with code ${exit?.exitCode ?? '?'}`);
  }

  private schedule(how: string): void {
    const now = this.clock.now();
    const ran = this.runStartedAt === null ? 0 : now - this.runStartedAt;
    this.runStartedAt = null;
    const delay = this.policy.next(now, ran);
    const name = this.server.name;
    if (delay === null) {
      this.options.say(`"${name}" ${how}; not restarted: ${this.policy.limit} restarts in the last hour ("maxRestartsPerHour").`);
      this.options.onGiveUp();
      return;
    }
    this.options.say(`"${name}" ${how}; restarting in ${formatDuration(delay)} ("restart": "on-failure"; the VRAM gate is checked again first).`);
    this.timer = this.clock.setTimeout(() => void this.restart(), delay);
  }

  private async restart(): Promise<void> {
    this.timer = null;
    this.starting = true;
    this.server.restarts++;
    let outcome: Awaited<ReturnType<ManagedServer['start']>>;
    try {
      outcome = await this.server.start();
    } finally {
      this.starting = false;
    }
    if (outcome.ok || this.server.state === 'stopped' || this.server.state === 'stopping') return;
    // Refused by the gate or failed to start: another failure, with its own backoff.
    this.schedule(this.server.state === 'refused' ? 'was refused by the VRAM gate' : 'failed to start again');
  }
}
