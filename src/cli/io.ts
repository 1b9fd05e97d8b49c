/** What a CLI command writes to and reads from; tests pass their own. */
export interface CliIo {
  stdout(text: string): void;
  stderr(text: string): void;
  env: NodeJS.ProcessEnv;
  /** Resolves when the user interrupts (Ctrl-C); long-running commands stop then. */
  interrupted: Promise<void>;
}
