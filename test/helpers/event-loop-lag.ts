/**
 * A timer-lag probe: a timer that should fire every `everyMs` notes how late each firing is. The
 * longest gap is the longest time the event loop (the extension host, in VS Code) could not run.
 *
 * Each gap is measured twice: in wall time, and in the CPU time this thread used during it. On a
 * machine shared with other work the operating system can stop the whole process for tens of
 * milliseconds (the wall gap grows, the CPU time does not): the CPU figure is the pause the code
 * itself caused, the wall figure is what a user would have felt on this machine at this moment.
 */
export interface LagResult {
  /** The longest gap between two firings, wall time (ms). */
  wallMs: number;
  /** The most CPU time this thread used within one gap (ms): the longest pause the code caused. */
  cpuMs: number;
}

const threadCpuMs = (): number => {
  const u = process.threadCpuUsage();
  return (u.user + u.system) / 1000;
};

export class EventLoopLag {
  private lastWall = performance.now();
  private lastCpu = threadCpuMs();
  private wall = 0;
  private cpu = 0;
  private readonly timer: NodeJS.Timeout;

  constructor(everyMs = 5) {
    this.timer = setInterval(() => this.tick(), everyMs);
  }

  private tick(): void {
    const wall = performance.now();
    const cpu = threadCpuMs();
    this.wall = Math.max(this.wall, wall - this.lastWall);
    this.cpu = Math.max(this.cpu, cpu - this.lastCpu);
    this.lastWall = wall;
    this.lastCpu = cpu;
  }

  /** Stops the probe; returns the longest gaps. */
  stop(): LagResult {
    clearInterval(this.timer);
    this.tick();
    return { wallMs: this.wall, cpuMs: this.cpu };
  }
}
