/**
 * Starts and stops the real VS Code server on 127.0.0.1.
 *
 * - `smoke`: VS Code's own server (lib/vscode/out/server-main.js) with the smoke-test driver, which
 *   the extension tests need (the page calls `window.codeAutomationExit` when the tests are done).
 * - `code-server`: the code-server launcher (health check, offline `--install-extension`), for `npm start`.
 *
 * The server runs in its own process group and is stopped by PID, with its file watchers.
 */
import { createWriteStream } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { ensureVsCode } from './install.ts';
import { startGroup, stopGroup, waitForHttp, type Started } from './processes.ts';
import { privateRuntimeDir } from './runtime-dir.ts';

export interface ServerOptions {
  mode: 'smoke' | 'code-server';
  /** Folder for user data, extensions and logs of this run. */
  stateDir: string;
  /** Port on 127.0.0.1; a free one when left out. */
  port?: number;
  /** Extra environment for the server and hence the extension host (e.g. FAKE_NVML_STATE). */
  env?: Record<string, string | undefined>;
  /** Folder to open (code-server mode; in smoke mode the URL names it). */
  folder?: string;
  /** Seconds to wait for the server to answer. */
  startTimeoutMs?: number;
  /** More arguments for the server, e.g. `--disable-workspace-trust` (the workspace then counts as trusted). */
  extraArgs?: string[];
  /**
   * `private`: XDG_RUNTIME_DIR is a folder of this run's own (`<stateDir>/runtime`), so the
   * extension's reservations are neither the machine's nor another run's — the default in smoke
   * mode, which only the tests use. `shared`: the user's own, the default for `npm start`.
   * An XDG_RUNTIME_DIR in `env` wins over both.
   */
  runtime?: 'private' | 'shared';
}

export interface RunningServer {
  readonly url: string;
  readonly port: number;
  readonly pid: number;
  readonly logFile: string;
  readonly extensionsDir: string;
  readonly process: Started;
  stop(): Promise<void>;
}

export async function freePort(): Promise<number> {
  return await new Promise((resolvePort, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolvePort(port));
    });
  });
}

/** Environment for the server without the variables that would change how VS Code runs. */
function serverEnv(extra: Record<string, string | undefined>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const key of Object.keys(env)) {
    if (key.startsWith('VSCODE_') || key === 'ELECTRON_RUN_AS_NODE' || key.startsWith('npm_')) delete env[key];
  }
  for (const [key, value] of Object.entries(extra)) {
    if (value === undefined) delete env[key];
    else env[key] = value;
  }
  return env;
}

export async function startServer(options: ServerOptions): Promise<RunningServer> {
  const install = await ensureVsCode();
  const port = options.port ?? (await freePort());
  const userDataDir = join(options.stateDir, 'user-data');
  const serverDataDir = join(options.stateDir, 'server-data');
  const extensionsDir = join(options.stateDir, 'extensions');
  const logFile = join(options.stateDir, 'server.log');
  await Promise.all([userDataDir, serverDataDir, extensionsDir].map((d) => mkdir(d, { recursive: true })));

  const args =
    options.mode === 'smoke'
      ? [
          install.serverMain,
          '--host',
          '127.0.0.1',
          '--port',
          String(port),
          '--without-connection-token',
          '--enable-smoke-test-driver',
          '--disable-telemetry',
          '--accept-server-license-terms',
          '--user-data-dir',
          userDataDir,
          '--server-data-dir',
          serverDataDir,
          '--extensions-dir',
          extensionsDir,
          ...(options.extraArgs ?? []),
        ]
      : [
          install.codeServerEntry,
          '--auth',
          'none',
          '--bind-addr',
          `127.0.0.1:${port}`,
          '--disable-telemetry',
          '--disable-update-check',
          '--disable-workspace-trust',
          '--user-data-dir',
          userDataDir,
          '--extensions-dir',
          extensionsDir,
          ...(options.extraArgs ?? []),
          ...(options.folder ? [options.folder] : []),
        ];
  const runtime = options.runtime ?? (options.mode === 'smoke' ? 'private' : 'shared');
  const env = runtime === 'private' ? { XDG_RUNTIME_DIR: await privateRuntimeDir(options.stateDir), ...options.env } : (options.env ?? {});
  const log = createWriteStream(logFile, { flags: 'a' });
  const started = startGroup(`VS Code server (${options.mode})`, process.execPath, args, {
    env: serverEnv(env),
    cwd: options.stateDir,
  });
  started.child.stdout?.pipe(log, { end: false });
  started.child.stderr?.pipe(log, { end: false });
  const url = `http://127.0.0.1:${port}`;
  try {
    await waitForHttp(options.mode === 'code-server' ? `${url}/healthz` : `${url}/version`, options.startTimeoutMs ?? 60_000, started);
  } catch (err) {
    await stopGroup(started);
    log.end();
    throw new Error(`${(err as Error).message}; see ${logFile}`);
  }
  let stopped = false;
  return {
    url,
    port,
    pid: started.pid,
    logFile,
    extensionsDir,
    process: started,
    async stop() {
      if (stopped) return;
      stopped = true;
      await stopGroup(started);
      log.end();
    },
  };
}
