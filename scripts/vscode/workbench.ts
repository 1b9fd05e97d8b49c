/**
 * The VS Code server and the browser a runner started for one run, kept together so that one call
 * stops both (the browser first), also on failure and Ctrl-C.
 */
import { launchBrowser, type RunningBrowser } from './browser.ts';
import { startServer, type RunningServer, type ServerOptions } from './server.ts';

export class StartedWorkbench {
  private server: RunningServer | null = null;
  private browser: RunningBrowser | null = null;

  async startServer(options: ServerOptions): Promise<RunningServer> {
    this.server = await startServer(options);
    return this.server;
  }

  async launchBrowser(options?: Parameters<typeof launchBrowser>[0]): Promise<RunningBrowser> {
    this.browser = await launchBrowser(options);
    return this.browser;
  }

  /** Stops whatever was started; safe to call twice. */
  readonly stop = async (): Promise<void> => {
    await this.browser?.close();
    this.browser = null;
    await this.server?.stop();
    this.server = null;
  };
}
