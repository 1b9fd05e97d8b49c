/**
 * Recognises the echo-cancel module in pactl's module list and reads its arguments, both the
 * PipeWire-native form (`libpipewire-module-echo-cancel`, SPA JSON arguments from a
 * `pipewire.conf.d` file) and the PulseAudio form (`module-echo-cancel aec_method=webrtc ...`,
 * loaded at run time with `pactl load-module`).
 */
import type { ModuleInfo } from './pactl-json.ts';
import { parseSpaJson, spaGet, type SpaValue } from './spa-json.ts';

export interface EchoCancelModule {
  /** pactl's module index. */
  index: number | null;
  /** `pipewire`: loaded by PipeWire from its configuration; `pulse`: loaded at run time through pactl. */
  kind: 'pipewire' | 'pulse';
  moduleName: string;
  /** The AEC library: `webrtc`, `null`, or whatever the arguments name. */
  library: string;
  /** True when the arguments do not name a library and the module's default (WebRTC) is used. */
  libraryIsDefault: boolean;
  /** `monitor.mode`: the canceller's reference is the default sink's monitor (everything played is cancelled). */
  monitorMode: boolean;
  /** Node name of the cancelled source, from the arguments or the module's default. */
  sourceName: string;
  /** Node name of the sink whose sound is cancelled (unused in monitor mode). */
  sinkName: string;
  /** The AEC library's own options (`webrtc.noise_suppression = false`, ...). */
  aecArgs: Record<string, string>;
  /** The arguments as pactl printed them. */
  argument: string;
}

const pipewireName = 'libpipewire-module-echo-cancel';
const pulseName = 'module-echo-cancel';

function libraryFrom(name: string): string {
  // "aec/libspa-aec-webrtc" -> "webrtc"
  const m = /libspa-aec-([A-Za-z0-9_-]+)/.exec(name);
  return m?.[1] ?? name;
}

function flat(v: SpaValue | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (v && typeof v === 'object' && !Array.isArray(v)) {
    for (const [k, val] of Object.entries(v)) if (typeof val === 'string') out[k] = val;
  }
  return out;
}

/** Splits PulseAudio module arguments: `a=b c="d e" f='g'`. */
export function parsePulseModuleArgs(argument: string): Record<string, string> {
  const out: Record<string, string> = {};
  const re = /([A-Za-z0-9_.-]+)=("([^"]*)"|'([^']*)'|(\S*))/g;
  for (const [, key, , doubleQuoted, singleQuoted, bare] of argument.matchAll(re)) if (key !== undefined) out[key] = doubleQuoted ?? singleQuoted ?? bare ?? '';
  return out;
}

/** The echo-cancel module described by one pactl module entry; null for any other module. */
export function readEchoCancelModule(module: ModuleInfo): EchoCancelModule | null {
  if (module.name === pipewireName) {
    const args = parseSpaJson(module.argument);
    const lib = spaGet(args, 'library.name') ?? spaGet(args, 'aec.method');
    const mon = spaGet(args, 'monitor.mode');
    const source = spaGet(args, 'source.props', 'node.name');
    const sink = spaGet(args, 'sink.props', 'node.name');
    return {
      index: module.index,
      kind: 'pipewire',
      moduleName: module.name,
      library: typeof lib === 'string' ? libraryFrom(lib) : 'webrtc',
      libraryIsDefault: typeof lib !== 'string',
      monitorMode: mon === 'true',
      sourceName: typeof source === 'string' ? source : 'echo-cancel-source',
      sinkName: typeof sink === 'string' ? sink : 'echo-cancel-sink',
      aecArgs: flat(spaGet(args, 'aec.args')),
      argument: module.argument,
    };
  }
  if (module.name === pulseName) {
    const args = parsePulseModuleArgs(module.argument);
    const aecArgs: Record<string, string> = {};
    for (const [k, v] of Object.entries(parsePulseModuleArgs(args.aec_args ?? ''))) aecArgs[k] = v;
    return {
      index: module.index,
      kind: 'pulse',
      moduleName: module.name,
      library: args.aec_method ?? 'webrtc',
      libraryIsDefault: args.aec_method === undefined,
      monitorMode: false,
      sourceName: args.source_name ?? 'echo-cancel-source',
      sinkName: args.sink_name ?? 'echo-cancel-sink',
      aecArgs,
      argument: module.argument,
    };
  }
  return null;
}

/** One line describing the arguments, e.g. "AEC library webrtc, monitor mode on, source "Echo Cancellation Source"". */
export function describeModule(m: EchoCancelModule): string {
  const lib = m.libraryIsDefault ? `${m.library} (the default)` : m.library;
  const extra = Object.entries(m.aecArgs).map(([k, v]) => `${k}=${v}`);
  return (
    `AEC library ${lib}, monitor mode ${m.monitorMode ? 'on (everything played on the default output is cancelled)' : `off (only sound played to "${m.sinkName}" is cancelled)`}` +
    `, source "${m.sourceName}"` +
    (extra.length ? `, ${extra.join(', ')}` : '')
  );
}
