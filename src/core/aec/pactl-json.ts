/**
 * Validates the JSON that `pactl -f json ...` prints (pactl 16 or later) into the few fields the
 * checks use. Anything unexpected becomes a PactlFormatError naming what was wrong.
 */

export class PactlFormatError extends Error {
  constructor(what: string) {
    super(`pactl printed something unexpected (${what}). pactl 16 or later is needed for JSON output.`);
    this.name = 'PactlFormatError';
  }
}

export interface ServerInfo {
  serverName: string;
  serverVersion: string;
  /** The PipeWire version from "PulseAudio (on PipeWire 0.3.65)"; null when the server is not PipeWire. */
  pipewireVersion: string | null;
  defaultSinkName: string;
  defaultSourceName: string;
  /** e.g. "float32le 2ch 48000Hz" */
  defaultSampleSpec: string;
}

export interface SourceInfo {
  index: number;
  name: string;
  description: string;
  /** `media.class`, e.g. "Audio/Source" or "Audio/Sink" for a monitor. */
  mediaClass: string;
  /** The sink this source monitors; null for a real source. */
  monitorOfSink: string | null;
  properties: Record<string, string>;
}

export interface ModuleInfo {
  /** PulseAudio-style index ("536870913" for modules loaded through pactl). */
  index: number | null;
  name: string;
  argument: string;
  properties: Record<string, string>;
}

export interface SourceOutputInfo {
  index: number;
  /** Index of the source the stream records from; null when not connected. */
  source: number | null;
  properties: Record<string, string>;
}

function parse(text: string, what: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw new PactlFormatError(`${what} is not JSON: ${JSON.stringify(text.slice(0, 80))}`);
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function str(o: Record<string, unknown>, key: string, what: string): string {
  const v = o[key];
  if (typeof v === 'string') return v;
  if (v === null || v === undefined) return '';
  if (typeof v === 'number') return String(v);
  throw new PactlFormatError(`${what}.${key} is ${typeof v}`);
}

function int(o: Record<string, unknown>, key: string): number | null {
  const v = o[key];
  const n = typeof v === 'number' ? v : typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : NaN;
  // PA_INVALID_INDEX (4294967295) means "none".
  return Number.isInteger(n) && n >= 0 && n < 4294967295 ? n : null;
}

function props(o: Record<string, unknown>): Record<string, string> {
  const p = o.properties;
  const out: Record<string, string> = {};
  if (isObject(p)) for (const [k, v] of Object.entries(p)) if (typeof v === 'string' || typeof v === 'number') out[k] = String(v);
  return out;
}

function list(text: string, what: string): Record<string, unknown>[] {
  const v = parse(text, what);
  if (!Array.isArray(v)) throw new PactlFormatError(`${what} is not a list`);
  return v.map((item, i) => {
    if (!isObject(item)) throw new PactlFormatError(`${what}[${i}] is not an object`);
    return item;
  });
}

/** `pactl -f json info` */
export function parseServerInfo(text: string): ServerInfo {
  const v = parse(text, 'info');
  if (!isObject(v)) throw new PactlFormatError('info is not an object');
  const serverName = str(v, 'server_name', 'info');
  if (!serverName) throw new PactlFormatError('info has no server_name');
  const m = /on PipeWire ([0-9][^\s)]*)/i.exec(serverName);
  return {
    serverName,
    serverVersion: str(v, 'server_version', 'info'),
    pipewireVersion: m?.[1] ?? null,
    defaultSinkName: str(v, 'default_sink_name', 'info'),
    defaultSourceName: str(v, 'default_source_name', 'info'),
    defaultSampleSpec: str(v, 'default_sample_specification', 'info'),
  };
}

/** `pactl -f json list sources` */
export function parseSources(text: string): SourceInfo[] {
  return list(text, 'sources').map((o, i) => {
    const index = int(o, 'index');
    const name = str(o, 'name', `sources[${i}]`);
    if (index === null || !name) throw new PactlFormatError(`sources[${i}] has no index or name`);
    const properties = props(o);
    // pactl 16 prints the monitored sink's name as "monitor_source" (plain output: "Monitor of Sink").
    const monitor = o.monitor_of_sink ?? o.monitor_source;
    const mediaClass = properties['media.class'] ?? '';
    const monitorOfSink =
      typeof monitor === 'string' && monitor !== 'n/a' && monitor !== ''
        ? monitor
        : properties['device.class'] === 'monitor' || mediaClass === 'Audio/Sink'
          ? name.replace(/\.monitor$/, '')
          : null;
    return {
      index,
      name,
      description: str(o, 'description', `sources[${i}]`),
      mediaClass,
      monitorOfSink,
      properties,
    };
  });
}

/** `pactl -f json list modules` */
export function parseModules(text: string): ModuleInfo[] {
  return list(text, 'modules').map((o, i) => {
    const name = str(o, 'name', `modules[${i}]`);
    if (!name) throw new PactlFormatError(`modules[${i}] has no name`);
    return { index: int(o, 'index'), name, argument: str(o, 'argument', `modules[${i}]`), properties: props(o) };
  });
}

/** `pactl -f json list source-outputs` */
export function parseSourceOutputs(text: string): SourceOutputInfo[] {
  return list(text, 'source-outputs').map((o, i) => {
    const index = int(o, 'index');
    if (index === null) throw new PactlFormatError(`source-outputs[${i}] has no index`);
    return { index, source: int(o, 'source'), properties: props(o) };
  });
}
