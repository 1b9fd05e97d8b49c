/**
 * Reads the Prometheus text exposition format (version 0.0.4), as prom-client and dcgm-exporter
 * write it: `# HELP` / `# TYPE` lines, then `name{label="value",…} value [timestamp]`. Bounded: at
 * most `maxSamples` samples kept and `maxLineChars` per line; anything that is not the format is
 * refused with the line number and its first characters, never guessed at.
 */
import { FleetSourceError, quoteStart } from './source-error.ts';

export interface PromSample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface PromTextOptions {
  /** Only samples of these metric names are kept (all others are still checked). */
  names?: ReadonlySet<string>;
  maxSamples?: number;
  maxLineChars?: number;
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*/;
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*/;

export function parsePromText(text: string, options: PromTextOptions = {}): PromSample[] {
  const maxSamples = options.maxSamples ?? 50_000;
  const maxLineChars = options.maxLineChars ?? 16_384;
  const out: PromSample[] = [];
  let lineNo = 0;
  let start = 0;
  while (start <= text.length) {
    let end = text.indexOf('\n', start);
    if (end < 0) end = text.length;
    lineNo++;
    const raw = text.slice(start, end);
    start = end + 1;
    if (raw.length > maxLineChars) throw new FleetSourceError('malformed', `line ${lineNo} is ${raw.length} characters long, more than ${maxLineChars}`);
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    const trimmed = line.trim();
    if (!trimmed || trimmed.startsWith('#')) continue;
    const sample = parseSampleLine(trimmed, lineNo);
    if (options.names && !options.names.has(sample.name)) continue;
    if (out.length >= maxSamples) throw new FleetSourceError('too-large', `more than ${maxSamples} samples of the metrics VRAM Guard reads`);
    out.push(sample);
  }
  return out;
}

function parseSampleLine(line: string, lineNo: number): PromSample {
  const fail = (why: string): never => {
    throw new FleetSourceError('malformed', `not the Prometheus text format at line ${lineNo} (${why}): ${quoteStart(line, 80)}`);
  };
  const name = NAME.exec(line)?.[0];
  if (!name) return fail('no metric name');
  let i = name.length;
  const labels: Record<string, string> = {};
  if (line[i] === '{') {
    i++;
    for (;;) {
      while (line[i] === ' ' || line[i] === '\t') i++;
      if (line[i] === '}') {
        i++;
        break;
      }
      const label = LABEL.exec(line.slice(i))?.[0];
      if (!label) return fail('a label name was expected');
      i += label.length;
      while (line[i] === ' ') i++;
      if (line[i] !== '=') fail(`"=" was expected after ${label}`);
      i++;
      while (line[i] === ' ') i++;
      if (line[i] !== '"') fail(`the value of ${label} is not quoted`);
      i++;
      let value = '';
      for (;;) {
        const c = line[i];
        if (c === undefined) fail(`the value of ${label} is not closed`);
        if (c === '"') break;
        if (c === '\\') {
          const n = line[i + 1];
          if (n === 'n') value += '\n';
          else if (n === '\\' || n === '"') value += n;
          else fail(`unknown escape \\${n ?? ''} in ${label}`);
          i += 2;
          continue;
        }
        value += c;
        i++;
      }
      i++;
      if (Object.hasOwn(labels, label)) fail(`label ${label} appears twice`);
      labels[label] = value;
      while (line[i] === ' ') i++;
      if (line[i] === ',') i++;
      else if (line[i] !== '}') fail('"," or "}" was expected');
    }
  }
  const [valueText, timestamp, ...more] = line.slice(i).trim().split(/\s+/);
  if (!valueText || more.length) return fail('a value was expected');
  const value = parseValue(valueText);
  if (value === null) return fail(`"${valueText}" is not a number`);
  if (timestamp !== undefined && !/^-?\d+$/.test(timestamp)) fail(`"${timestamp}" is not a timestamp`);
  return { name, labels, value };
}

function parseValue(text: string): number | null {
  if (text === 'NaN') return NaN;
  if (text === '+Inf' || text === 'Inf') return Infinity;
  if (text === '-Inf') return -Infinity;
  if (!/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(text)) return null;
  return Number(text);
}
