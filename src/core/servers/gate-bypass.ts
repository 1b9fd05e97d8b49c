/**
 * "Start anyway" after the VRAM gate refused a task: the next start of that task, and only that
 * one, skips the gate. The reason (the refusal it overrides) is kept for the log.
 */
export class GateBypass {
  private readonly pending = new Map<string, string>();

  /** Lets the next start of `taskName` skip the gate; `reason` is what the gate said. */
  allowOnce(taskName: string, reason: string): void {
    this.pending.set(taskName, reason);
  }

  /** Whether this start skips the gate: the reason once, then null. */
  take(taskName: string): string | null {
    const reason = this.pending.get(taskName);
    if (reason === undefined) return null;
    this.pending.delete(taskName);
    return reason;
  }

  /** Drops a pending bypass (the start it was meant for did not happen). */
  cancel(taskName: string): void {
    this.pending.delete(taskName);
  }
}
