/**
 * `vram-guard aec`: verifies the echo-cancellation device on PipeWire and prints the report.
 *
 * Exit codes: 0 every check passed (or only warnings), 1 a check failed, 3 only warnings and
 * --fail-on-warn, 4 not available here (not Linux, no PipeWire), 64 wrong usage.
 */
import { parseFormatSpec, formatToString, type AudioFormat, defaultAudioFormat } from '../core/aec/audio-format.ts';
import { renderJson, renderMarkdown } from '../core/aec/report.ts';
import { type AecReport, defaultEchoSeconds, defaultRecordSeconds, defaultSourceName, verifyEchoCancellation } from '../core/aec/verify.ts';
import { unknownOptionMessage } from './args.ts';
import type { CliIo } from './io.ts';
import { errorMessage } from '../core/errors.ts';

const AEC_OPTIONS = ['--source', '--seconds', '--format', '--echo-test', '--echo-seconds', '--json', '--fail-on-warn', '--help'];

export const aecExitCodes = { pass: 0, fail: 1, warn: 3, unavailable: 4, usage: 64 } as const;

const usage = `Usage: vram-guard aec [options]

Verifies the PipeWire echo-cancellation device a voice assistant records from:
  1. a PulseAudio-compatible server answers and it is PipeWire
  2. the echo-cancel module is loaded (AEC library, monitor mode, configuration file)
  3. the source exists by its exact name (a wrong name silently records the default source)
  4. a short recording in the application's format delivers the expected bytes, from that source
  5. with --echo-test: test noise on the default output, and how many dB the canceller removes

Options:
  --source NAME        source to check (default "${defaultSourceName}")
  --seconds N          length of the recording, 0.2 to 30 (default ${defaultRecordSeconds})
  --format F:C:R       the application's sample format (u8, s16le, s24le, s32le, float32le), channels, rate (default ${defaultAudioFormat.sampleFormat}:${defaultAudioFormat.channels}:${defaultAudioFormat.rate})
  --echo-test          also run the echo test (plays ${defaultEchoSeconds} s of noise on the default output)
  --echo-seconds N     length of the echo test's noise, 2 to 30 (default ${defaultEchoSeconds})
  --json               print the report as JSON instead of Markdown
  --fail-on-warn       exit with 3 when there are warnings but no failure
  --help               show this help

Exit codes: 0 passed (warnings allowed), 1 a check failed, 3 warnings with --fail-on-warn,
            4 not available here (not Linux or no PipeWire), 64 wrong usage.
`;

export interface AecArgs {
  source: string;
  seconds: number;
  format: AudioFormat;
  echoTest: boolean;
  echoSeconds: number;
  json: boolean;
  failOnWarn: boolean;
  help: boolean;
}

/** Parses the arguments; returns the problems instead when they are wrong. */
export function parseAecArgs(args: readonly string[]): { args: AecArgs } | { problems: string[] } {
  const out: AecArgs = {
    source: defaultSourceName,
    seconds: defaultRecordSeconds,
    format: defaultAudioFormat,
    echoTest: false,
    echoSeconds: defaultEchoSeconds,
    json: false,
    failOnWarn: false,
    help: false,
  };
  const problems: string[] = [];
  const seconds = (flag: string, value: string | undefined, min: number, max: number): number | null => {
    const n = Number(value);
    if (value === undefined || value.trim() === '' || !Number.isFinite(n) || n < min || n > max) {
      problems.push(`${flag} needs a number of seconds from ${min} to ${max}, not ${value === undefined ? 'nothing' : JSON.stringify(value)}`);
      return null;
    }
    return n;
  };
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (arg === undefined) break;
    const eq = arg.indexOf('=');
    const [flag, inline] = arg.startsWith('--') && eq > 0 ? [arg.slice(0, eq), arg.slice(eq + 1)] : [arg, undefined];
    const value = (): string | undefined => inline ?? (i + 1 < args.length ? args[++i] : undefined);
    switch (flag) {
      case '--source': {
        const v = value();
        if (!v) problems.push('--source needs a source name, e.g. --source "Echo Cancellation Source"');
        else out.source = v;
        break;
      }
      case '--seconds': {
        const n = seconds('--seconds', value(), 0.2, 30);
        if (n !== null) out.seconds = n;
        break;
      }
      case '--echo-seconds': {
        const n = seconds('--echo-seconds', value(), 2, 30);
        if (n !== null) out.echoSeconds = n;
        break;
      }
      case '--format': {
        const v = value();
        const parsed = parseFormatSpec(v ?? '');
        if (parsed.problems.length > 0) problems.push(`--format: ${parsed.problems.join('; ')}`);
        else out.format = parsed.format;
        break;
      }
      case '--echo-test':
        out.echoTest = true;
        break;
      case '--json':
        out.json = true;
        break;
      case '--fail-on-warn':
        out.failOnWarn = true;
        break;
      case '--help':
      case '-h':
        out.help = true;
        break;
      default:
        problems.push(flag.startsWith('--') ? unknownOptionMessage(flag, AEC_OPTIONS) : `unknown argument ${JSON.stringify(arg)}`);
    }
  }
  return problems.length > 0 ? { problems } : { args: out };
}

export async function runAecCommand(args: string[], io: CliIo): Promise<number> {
  const parsed = parseAecArgs(args);
  if ('problems' in parsed) {
    io.stderr(`vram-guard aec: ${parsed.problems.join('\n  ')}\nRun "vram-guard aec --help" for the options.\n`);
    return aecExitCodes.usage;
  }
  const a = parsed.args;
  if (a.help) {
    io.stdout(usage);
    return aecExitCodes.pass;
  }
  const controller = new AbortController();
  void io.interrupted.then(() => controller.abort());
  if (!a.json) io.stderr(`Checking "${a.source}" (${formatToString(a.format)}, ${a.seconds} s)${a.echoTest ? ' with the echo test' : ''}...\n`);
  let report: AecReport;
  try {
    report = await verifyEchoCancellation({
      sourceName: a.source,
      format: a.format,
      recordSeconds: a.seconds,
      echoTest: a.echoTest,
      echoSeconds: a.echoSeconds,
      env: io.env,
      signal: controller.signal,
    });
  } catch (e) {
    if (controller.signal.aborted) {
      io.stderr('vram-guard aec: interrupted; the check was stopped.\n');
      return 130;
    }
    io.stderr(`vram-guard aec: the check could not be completed: ${errorMessage(e)}\nRun it again; if it repeats, report it with this message.\n`);
    return aecExitCodes.fail;
  }
  io.stdout(a.json ? renderJson(report) : renderMarkdown(report));
  switch (report.status) {
    case 'pass':
      return aecExitCodes.pass;
    case 'warn':
      return a.failOnWarn ? aecExitCodes.warn : aecExitCodes.pass;
    case 'fail':
      return aecExitCodes.fail;
    case 'unavailable':
      return aecExitCodes.unavailable;
  }
}
