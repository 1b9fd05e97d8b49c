/**
 * Reads Prometheus text format back with an independent parser (parse-prometheus-text-format), and
 * runs `promtool check metrics` (Debian's prometheus package) over it.
 */
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { PROMTOOL, requirePrometheus } from './prometheus-harness.ts';

export interface MetricFamily {
  name: string;
  help: string;
  type: string;
  metrics: Array<{ value: string; labels?: Record<string, string> }>;
}

const parse = createRequire(import.meta.url)('parse-prometheus-text-format') as (text: string) => MetricFamily[];

export function parsePrometheusText(text: string): MetricFamily[] {
  return parse(text);
}

/** The series of `name` whose labels include `labels`, as numbers with their labels. */
export function seriesOf(
  families: MetricFamily[],
  name: string,
  labels: Record<string, string> = {},
): Array<{ value: number; labels: Record<string, string> }> {
  const family = families.find((f) => f.name === name);
  return (family?.metrics ?? [])
    .filter((m) => Object.entries(labels).every(([k, v]) => (m.labels?.[k] ?? '') === v))
    .map((m) => ({ value: Number(m.value), labels: m.labels ?? {} }));
}

/** The one value of `name` with `labels`; throws when there is none or more than one. */
export function oneValue(families: MetricFamily[], name: string, labels: Record<string, string> = {}): number {
  const found = seriesOf(families, name, labels);
  if (found.length !== 1) throw new Error(`expected one ${name}${JSON.stringify(labels)}, found ${found.length}: ${JSON.stringify(found)}`);
  return found[0]!.value;
}

/** `promtool check metrics` over `text`: its exit code and what it printed. */
export function promtoolCheckMetrics(text: string): Promise<{ code: number | null; output: string }> {
  requirePrometheus();
  return new Promise((resolve, reject) => {
    const child = spawn(PROMTOOL, ['check', 'metrics'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (b: Buffer) => (output += b.toString()));
    child.stderr.on('data', (b: Buffer) => (output += b.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, output }));
    child.stdin.end(text);
  });
}
