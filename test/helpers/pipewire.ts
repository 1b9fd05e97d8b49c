/**
 * A private PipeWire for tests: a session bus, pipewire, wireplumber and pipewire-pulse under a
 * temporary runtime directory, optionally with the echo-cancel module configured, and a virtual
 * microphone. Every daemon is stopped by PID in `stop()` (call it from `after`, it is safe to call
 * on a half-started instance and more than once).
 */
import { access, chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { constants } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa, type ResultPromise } from 'execa';
import { parseServerInfo, parseSourceOutputs, parseSources } from '../../src/core/aec/pactl-json.ts';

/** The Debian packages the PipeWire tests need (also what CI installs). */
export const pipewirePackages = ['pipewire', 'pipewire-bin', 'pipewire-pulse', 'wireplumber', 'pulseaudio-utils', 'dbus', 'libspa-0.2-modules'];

const requiredTools: Record<string, string> = {
  'dbus-daemon': 'dbus',
  pipewire: 'pipewire-bin',
  wireplumber: 'wireplumber',
  'pipewire-pulse': 'pipewire-pulse',
  pactl: 'pulseaudio-utils',
  parec: 'pulseaudio-utils',
  'pw-play': 'pipewire-bin',
  'pw-link': 'pipewire-bin',
  'pw-loopback': 'pipewire-bin',
};

const aecLibraries = ['/usr/lib/x86_64-linux-gnu', '/usr/lib/aarch64-linux-gnu', '/usr/lib64', '/usr/lib'].flatMap((d) => [
  join(d, 'spa-0.2/aec/libspa-aec-webrtc.so'),
]);

async function onPath(tool: string): Promise<boolean> {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    try {
      await access(join(dir, tool), constants.X_OK);
      return true;
    } catch {
      // next
    }
  }
  return false;
}

async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}

/** Throws, naming the packages to install, when a tool or the WebRTC canceller is missing. */
export async function requirePipewireTools(): Promise<void> {
  const missing: string[] = [];
  for (const tool of Object.keys(requiredTools)) if (!(await onPath(tool))) missing.push(`${tool} (${requiredTools[tool]})`);
  let webrtc = false;
  for (const lib of aecLibraries) if (await exists(lib)) webrtc = true;
  if (!webrtc) missing.push('spa-0.2/aec/libspa-aec-webrtc.so (libspa-0.2-modules)');
  if (missing.length > 0) {
    throw new Error(
      `The PipeWire tests need a real PipeWire, and these are missing: ${missing.join(', ')}. ` +
        `Install them: sudo apt-get install -y --no-install-recommends ${pipewirePackages.join(' ')}`,
    );
  }
}

export interface PipewireOptions {
  /** The echo-cancel module's AEC library, or `none` for no echo-cancel configuration. */
  echoCancel: 'webrtc' | 'null' | 'none';
  /** Load a virtual microphone `ci_mic` (default true). */
  virtualMic?: boolean;
}

export interface Linked {
  stop(): Promise<void>;
}

export interface PrivatePipewire {
  /** Environment in which pactl & co. talk to this instance. */
  env: NodeJS.ProcessEnv;
  dir: string;
  /** The echo-cancel configuration file, or null. */
  configFile: string | null;
  micName: string;
  /** PIDs of the daemons, in start order. */
  pids: number[];
  /** Plays a steady tone straight into the virtual microphone (not through any sink) until stopped. */
  feedMicrophone(): Promise<Linked>;
  /** Feeds the default sink's sound into the virtual microphone, 20 ms late: what is played is "heard" by the mic. */
  linkRoom(): Promise<Linked>;
  stop(): Promise<void>;
}

/** An environment where no sound server answers (an empty runtime directory), for "not running" cases. */
export async function noServerEnv(): Promise<{ env: NodeJS.ProcessEnv; cleanup(): Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'vram-guard-nopw-'));
  const run = join(dir, 'run');
  await mkdir(run, { mode: 0o700 });
  await writeFile(join(dir, 'client.conf'), 'autospawn = no\n');
  return {
    env: {
      PATH: process.env.PATH,
      HOME: dir,
      XDG_RUNTIME_DIR: run,
      XDG_CONFIG_HOME: join(dir, 'config'),
      PULSE_CLIENTCONFIG: join(dir, 'client.conf'),
      LANG: 'C',
    },
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
}

function sineWav(seconds: number, hz: number, rate = 48000, amplitude = 0.2): Buffer {
  const n = Math.round(seconds * rate);
  const buf = Buffer.alloc(44 + n * 2);
  buf.write('RIFF', 0, 'ascii');
  buf.writeUInt32LE(36 + n * 2, 4);
  buf.write('WAVEfmt ', 8, 'ascii');
  buf.writeUInt32LE(16, 16);
  buf.writeUInt16LE(1, 20);
  buf.writeUInt16LE(1, 22);
  buf.writeUInt32LE(rate, 24);
  buf.writeUInt32LE(rate * 2, 28);
  buf.writeUInt16LE(2, 32);
  buf.writeUInt16LE(16, 34);
  buf.write('data', 36, 'ascii');
  buf.writeUInt32LE(n * 2, 40);
  for (let i = 0; i < n; i++) buf.writeInt16LE(Math.round(Math.sin((2 * Math.PI * hz * i) / rate) * amplitude * 32767), 44 + i * 2);
  return buf;
}

function once(fn: () => Promise<void>): Linked {
  let done: Promise<void> | null = null;
  return { stop: () => (done ??= fn()) };
}

/** Polls `probe` every 25 ms until it returns a value (not undefined) or `ms` pass. */
async function waitFor<T>(what: string, ms: number, probe: () => Promise<T | undefined>, logs: () => Promise<string>): Promise<T> {
  const deadline = performance.now() + ms;
  let lastError: unknown;
  while (performance.now() < deadline) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (e) {
      lastError = e;
    }
    await sleep(25);
  }
  throw new Error(`Timed out after ${ms} ms waiting for ${what}${lastError ? ` (last error: ${String(lastError)})` : ''}.\n${await logs()}`);
}

export async function startPipewire(options: PipewireOptions): Promise<PrivatePipewire> {
  await requirePipewireTools();
  const dir = await mkdtemp(join(tmpdir(), 'vram-guard-pw-'));
  const run = join(dir, 'run');
  const config = join(dir, 'config');
  await mkdir(run, { mode: 0o700 });
  await chmod(run, 0o700);
  await mkdir(join(config, 'pipewire', 'pipewire.conf.d'), { recursive: true });
  await writeFile(join(dir, 'client.conf'), 'autospawn = no\n');
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: dir,
    LANG: 'C',
    XDG_RUNTIME_DIR: run,
    XDG_CONFIG_HOME: config,
    XDG_STATE_HOME: join(dir, 'state'),
    XDG_DATA_HOME: join(dir, 'data'),
    DBUS_SESSION_BUS_ADDRESS: `unix:path=${join(run, 'bus')}`,
    PULSE_CLIENTCONFIG: join(dir, 'client.conf'),
  };
  await writeFile(
    join(config, 'pipewire', 'pipewire.conf.d', 'fixed-quantum.conf'),
    await readFile(new URL('../fixtures/pipewire/fixed-quantum.conf', import.meta.url), 'utf8'),
  );
  let configFile: string | null = null;
  if (options.echoCancel !== 'none') {
    const template = await readFile(new URL('../fixtures/pipewire/echo-cancel.conf.in', import.meta.url), 'utf8');
    configFile = join(config, 'pipewire', 'pipewire.conf.d', 'echo-cancel.conf');
    await writeFile(configFile, template.replaceAll('@LIBRARY@', `aec/libspa-aec-${options.echoCancel}`));
  }

  const daemons: { name: string; child: ResultPromise; pid: number }[] = [];
  const logs = async (): Promise<string> => {
    const parts: string[] = [];
    for (const d of daemons)
      parts.push(`--- ${d.name} (pid ${d.pid}) ---\n${(await readFile(join(dir, `${d.name}.log`), 'utf8').catch(() => '')).slice(-2000)}`);
    return parts.join('\n');
  };
  const spawnDaemon = (name: string, file: string, args: string[]): void => {
    const child = execa(file, args, { env, extendEnv: false, stdin: 'ignore', stdout: 'ignore', stderr: { file: join(dir, `${name}.log`) }, reject: false });
    if (child.pid === undefined) throw new Error(`${name} could not be started`);
    daemons.push({ name, child, pid: child.pid });
  };
  const tool = async (file: string, args: string[], timeoutMs = 5000) =>
    execa(file, args, { env, extendEnv: false, timeout: timeoutMs, reject: false, stdin: 'ignore' });
  const pactlJson = async (args: string[]): Promise<string | undefined> => {
    const r = await tool('pactl', ['-f', 'json', ...args], 3000);
    return r.exitCode === 0 ? String(r.stdout) : undefined;
  };
  const helpers: Linked[] = [];
  let stopped = false;

  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    for (const h of helpers.splice(0)) await h.stop().catch(() => undefined);
    // Stop in reverse order of start; each by its PID, SIGKILL after 3 s.
    for (const d of [...daemons].reverse()) {
      try {
        process.kill(d.pid, 'SIGTERM');
      } catch {
        continue; // already gone
      }
      const exited = await Promise.race([d.child.then(() => true), sleep(3000).then(() => false)]);
      if (!exited) {
        try {
          process.kill(d.pid, 'SIGKILL');
        } catch {
          // gone meanwhile
        }
        await d.child;
      }
    }
    await rm(dir, { recursive: true, force: true });
  };

  try {
    spawnDaemon('dbus', 'dbus-daemon', ['--session', `--address=${env.DBUS_SESSION_BUS_ADDRESS}`, '--nofork', '--nopidfile', '--nosyslog']);
    await waitFor('the session bus', 5000, async () => ((await exists(join(run, 'bus'))) ? true : undefined), logs);
    spawnDaemon('pipewire', 'pipewire', []);
    await waitFor('pipewire', 5000, async () => ((await exists(join(run, 'pipewire-0'))) ? true : undefined), logs);
    spawnDaemon('wireplumber', 'wireplumber', []);
    spawnDaemon('pipewire-pulse', 'pipewire-pulse', []);
    const info = await waitFor(
      'pipewire-pulse and a default sink',
      10000,
      async () => {
        const text = await pactlJson(['info']);
        if (text === undefined) return undefined;
        const i = parseServerInfo(text);
        return i.defaultSinkName && i.defaultSinkName !== '@DEFAULT_SINK@' ? i : undefined;
      },
      logs,
    );
    if (options.echoCancel !== 'none') {
      await waitFor(
        'the echo-cancel source',
        10000,
        async () => {
          const text = await pactlJson(['list', 'sources']);
          return text && parseSources(text).some((s) => s.name === 'Echo Cancellation Source') ? true : undefined;
        },
        logs,
      );
    }
    const micName = 'ci_mic';
    if (options.virtualMic !== false) {
      const r = await tool('pactl', [
        'load-module',
        'module-null-sink',
        'media.class=Audio/Source/Virtual',
        `sink_name=${micName}`,
        'channel_map=front-left,front-right',
      ]);
      if (r.exitCode !== 0) throw new Error(`Could not load the virtual microphone: ${String(r.stderr)}`);
      await waitFor(
        'the virtual microphone',
        10000,
        async () => {
          const sources = parseSources((await pactlJson(['list', 'sources'])) ?? '[]');
          const mic = sources.find((s) => s.name === micName);
          if (!mic) return undefined;
          if (options.echoCancel === 'none') return true;
          // The canceller's capture stream must be recording from the virtual microphone.
          const outputs = parseSourceOutputs((await pactlJson(['list', 'source-outputs'])) ?? '[]');
          return outputs.some((o) => o.properties['node.name'] === 'Echo Cancellation Capture' && o.source === mic.index) ? true : undefined;
        },
        logs,
      );
    }

    const linkPorts = async (pairs: [string, string][]): Promise<Linked> => {
      await waitFor(
        `ports ${pairs.flat().join(', ')}`,
        5000,
        async () => {
          const out = String((await tool('pw-link', ['-o'])).stdout).split('\n');
          const inputs = String((await tool('pw-link', ['-i'])).stdout).split('\n');
          return pairs.every(([from, to]) => out.includes(from) && inputs.includes(to)) ? true : undefined;
        },
        logs,
      );
      for (const [from, to] of pairs) {
        const r = await tool('pw-link', [from, to]);
        if (r.exitCode !== 0) throw new Error(`pw-link ${from} ${to} failed: ${String(r.stderr)}`);
      }
      return once(async () => {
        for (const [from, to] of pairs) await tool('pw-link', ['-d', from, to]);
      });
    };

    const pw: PrivatePipewire = {
      env,
      dir,
      configFile,
      micName,
      pids: daemons.map((d) => d.pid),
      async feedMicrophone() {
        const wav = join(dir, 'tone.wav');
        if (!(await exists(wav))) await writeFile(wav, sineWav(60, 440));
        const node = `ci-mic-feed-${helpers.length}`;
        const player = execa('pw-play', ['--target', '0', '-P', `node.name=${node}`, wav], {
          env,
          extendEnv: false,
          stdin: 'ignore',
          reject: false,
          timeout: 120_000,
        });
        const links = await linkPorts([
          [`${node}:output_MONO`, `${micName}:input_FL`],
          [`${node}:output_MONO`, `${micName}:input_FR`],
        ]).catch(async (e: unknown) => {
          player.kill('SIGKILL');
          await player;
          throw e;
        });
        const handle = once(async () => {
          await links.stop();
          if (player.pid !== undefined) {
            try {
              process.kill(player.pid, 'SIGTERM');
            } catch {
              // gone
            }
          }
          await player;
        });
        helpers.push(handle);
        return handle;
      },
      async linkRoom() {
        // A loopback from the default sink's monitor into the microphone, 20 ms late like sound
        // through a room and a sound card (with no delay at all the canceller cannot align).
        const sink = info.defaultSinkName;
        const node = `ci-room-${helpers.length}`;
        const loopback = execa(
          'pw-loopback',
          [
            '-n',
            node,
            '-d',
            '0.02',
            '--capture-props',
            `node.autoconnect=false node.name=${node}-in`,
            '--playback-props',
            `node.autoconnect=false node.name=${node}-out`,
          ],
          { env, extendEnv: false, stdin: 'ignore', reject: false, timeout: 300_000 },
        );
        const kill = async (): Promise<void> => {
          if (loopback.pid !== undefined) {
            try {
              process.kill(loopback.pid, 'SIGTERM');
            } catch {
              // gone
            }
          }
          await loopback;
        };
        // Output side first, input side last: no sound waits in the loopback before both are
        // connected, so the delay is the 20 ms asked for and not however long the linking took.
        const links = await linkPorts([
          [`${node}-out:output_FL`, `${micName}:input_FL`],
          [`${node}-out:output_FR`, `${micName}:input_FR`],
          [`${sink}:monitor_FL`, `${node}-in:input_FL`],
          [`${sink}:monitor_FR`, `${node}-in:input_FR`],
        ]).catch(async (e: unknown) => {
          await kill();
          throw e;
        });
        const handle = once(async () => {
          await links.stop();
          await kill();
        });
        helpers.push(handle);
        return handle;
      },
      stop,
    };
    return pw;
  } catch (e) {
    await stop();
    throw e;
  }
}
