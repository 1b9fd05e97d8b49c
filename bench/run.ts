/**
 * `npm run bench`: what one sample costs through NVML and through nvidia-smi, side by side in one
 * run, the watcher's own CPU time at the default rate, the time from a sample that crosses a
 * fallback trigger to the step's request, the driver calls per minute (bench/driver-calls.ts), and
 * llama.cpp's dry run and the estimate per architecture of the dry-run matrix (bench/llama-dry-run.ts),
 * the history import's rate and longest pause, and how well the trend analysis judges (leak
 * detection delay, rate error, false leak verdicts) and how long it takes on a day at 1 Hz. Prints a table; saves JSON under
 * bench/results/. `-- --quick` shortens the watcher measurement from 60 s to 10 s.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { measureDashboard } from './dashboard.ts';
import { measureExporterScrape } from './exporter-scrape.ts';
import { measureDriverCalls, PROCESS_LISTINGS_PER_MINUTE_TARGET } from './driver-calls.ts';
import { measureFallbackLatency } from './fallback-latency.ts';
import { measureFleetInChild } from './fleet.ts';
import { measureGgufEstimate } from './gguf-estimate.ts';
import { measureHistoryImport } from './history-import.ts';
import { dryRunRows, measureLlamaDryRun } from './llama-dry-run.ts';
import { BENCH_GPU, measureNvmlSampler, samplerRows } from './nvml-sampler.ts';
import { ANALYSIS_TARGET_MS, measureTrendAnalysis } from './trend-analysis.ts';
import { measureWholeGpu } from './whole-gpu.ts';
import { openNvidiaSmi } from '../src/core/gpu/nvidia-smi-source.ts';
import { openNvml } from '../src/core/gpu/nvml-source.ts';
import type { GpuSource } from '../src/core/gpu/types.ts';
import { DEFAULT_THRESHOLDS } from '../src/core/watch/thresholds.ts';
import { Watcher } from '../src/core/watch/watcher.ts';
import { buildFakeNvml, FakeNvmlState, repoRoot } from '../test/helpers/fake-nvml.ts';

const quick = process.argv.includes('--quick');
const WATCH_SECONDS = quick ? 10 : 60;

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

function percentile(values: number[], p: number): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
}

/** Microseconds per sample, each timed on its own. */
async function timeSamples(source: GpuSource, count: number, warmup: number): Promise<number[]> {
  for (let i = 0; i < warmup; i++) await source.sample(i);
  const out: number[] = [];
  for (let i = 0; i < count; i++) {
    const t0 = process.hrtime.bigint();
    await source.sample(i);
    out.push(Number(process.hrtime.bigint() - t0) / 1000);
  }
  return out;
}

async function main(): Promise<void> {
  const lib = await buildFakeNvml();
  const fake = await FakeNvmlState.create({
    devices: [BENCH_GPU],
  });
  process.env.FAKE_NVML_STATE = fake.path;

  // First, before the timing loops leave garbage to collect: the watcher at the default rate
  // over a calm GPU, as in everyday use.
  const watcherNvml = await openNvml({ libraryPath: lib, platform: 'darwin' });
  if (!watcherNvml.ok) throw new Error(watcherNvml.reason);
  const watcher = new Watcher({ openSource: async () => watcherNvml, thresholds: DEFAULT_THRESHOLDS, intervalMs: 1000 });
  let samples = 0;
  watcher.on('sample', () => samples++);
  watcher.start();
  // Steady state: the first samples compile the code paths once.
  while (samples < 3) await new Promise((r) => setTimeout(r, 100));
  samples = 0;
  const cpu0 = process.cpuUsage();
  const wall0 = process.hrtime.bigint();
  await new Promise((r) => setTimeout(r, WATCH_SECONDS * 1000));
  await watcher.stop();
  const cpu = process.cpuUsage(cpu0);
  const wallMs = Number(process.hrtime.bigint() - wall0) / 1e6;
  const cpuShare = ((cpu.user + cpu.system) / 1000 / wallMs) * 100;

  const nvml = await openNvml({ libraryPath: lib, platform: 'darwin' });
  if (!nvml.ok) throw new Error(`NVML (fake) did not open: ${nvml.reason}`);
  const nvmlTimes = await timeSamples(nvml.source, 20_000, 1_000);
  await nvml.source.dispose();

  const sampler = await measureNvmlSampler();

  const smi = await openNvidiaSmi({ executable: join(repoRoot, 'test', 'fixtures', 'nvidia-smi', 'nvidia-smi') });
  if (!smi.ok) throw new Error(`nvidia-smi stand-in did not run: ${smi.reason}`);
  const smiTimes = await timeSamples(smi.source, 200, 10);
  await smi.source.dispose();

  const scrape = await measureExporterScrape();
  const fallback = await measureFallbackLatency();
  const fleet = await measureFleetInChild();
  // Before the GGUF estimate, which removes the fixtures' shared temp folder when it ends.
  const llamaDryRun = await measureLlamaDryRun();
  const ggufEstimate = await measureGgufEstimate();
  const driverCalls = await measureDriverCalls();
  const historyImport = await measureHistoryImport();
  const trendAnalysis = measureTrendAnalysis();
  const wholeGpu = await measureWholeGpu();

  const nvmlMedian = median(nvmlTimes);
  const smiMedian = median(smiTimes);
  const ratio = smiMedian / nvmlMedian;
  const rows = [
    {
      measure: 'NVML sample (1 GPU, 5 processes)',
      value: `${nvmlMedian.toFixed(2)} µs median, p90 ${percentile(nvmlTimes, 90).toFixed(2)} µs`,
      target: '< 20 µs per GPU',
      ok: nvmlMedian < 20,
    },
    ...samplerRows(sampler),
    {
      measure: 'nvidia-smi sample (stand-in executable)',
      value: `${(smiMedian / 1000).toFixed(2)} ms median, p90 ${(percentile(smiTimes, 90) / 1000).toFixed(2)} ms`,
      target: '',
      ok: true,
    },
    { measure: 'NVML vs nvidia-smi', value: `${ratio.toFixed(0)}× cheaper`, target: '≥ 100×', ok: ratio >= 100 },
    {
      measure: `watcher CPU over ${WATCH_SECONDS} s (default rate)`,
      value: `${cpuShare.toFixed(3)}% of one core, ${samples} samples`,
      target: '≤ 0.1%',
      ok: cpuShare <= 0.1,
    },
    ...(await measureDashboard()),
    {
      measure: `exporter scrape (${scrape.gpus} GPUs, ${scrape.processes} processes)`,
      value: `${scrape.httpMedianMs.toFixed(2)} ms median of ${scrape.scrapes} (render ${scrape.renderMedianMs.toFixed(2)} ms, ${scrape.series} series)`,
      target: `≤ ${scrape.targetMs} ms`,
      ok: scrape.httpMedianMs <= scrape.targetMs,
    },
    ...driverCalls.map((c) => ({
      measure: `driver calls per minute, ${c.case}`,
      value: `${c.samples} samples: memory info ${c.memoryInfoCalls}, process listings ${c.processListings} (${c.processListCalls} list calls)`,
      target: c.case.startsWith('steady') ? `listings ≤ ${PROCESS_LISTINGS_PER_MINUTE_TARGET}` : '',
      ok: !c.case.startsWith('steady') || c.processListings <= PROCESS_LISTINGS_PER_MINUTE_TARGET,
    })),
    {
      measure: 'trigger crossed → fallback request sent',
      value: `${fallback.medianMs.toFixed(2)} ms median of ${fallback.samples}`,
      target: '≤ 50 ms',
      ok: fallback.medianMs <= 50,
    },
    ...fleet.rows,
    {
      measure: `estimate of a ${(ggufEstimate.fileBytes / 1024 ** 3).toFixed(1)} GiB split GGUF (${ggufEstimate.files} files)`,
      value: `${ggufEstimate.medianMs.toFixed(2)} ms median of ${ggufEstimate.runs}, p90 ${ggufEstimate.p90Ms.toFixed(2)} ms`,
      target: `≤ ${ggufEstimate.targetMs} ms`,
      ok: ggufEstimate.medianMs <= ggufEstimate.targetMs,
    },
    ...dryRunRows(llamaDryRun),
    ...historyImport.rows,
    ...trendAnalysis.rows,
    ...wholeGpu.rows,
  ];
  const width = Math.max(...rows.map((r) => r.measure.length));
  const vwidth = Math.max(...rows.map((r) => r.value.length));
  console.log(`${'measure'.padEnd(width)}  ${'result'.padEnd(vwidth)}  target`);
  for (const r of rows) console.log(`${r.measure.padEnd(width)}  ${r.value.padEnd(vwidth)}  ${r.target}${r.target ? (r.ok ? '  met' : '  MISSED') : ''}`);

  const result = {
    date: new Date().toISOString(),
    node: process.version,
    cpu: cpus()[0]?.model ?? 'unknown',
    nvml: { samples: nvmlTimes.length, medianUs: nvmlMedian, p90Us: percentile(nvmlTimes, 90) },
    nvmlSampler: sampler,
    nvidiaSmi: { samples: smiTimes.length, medianUs: smiMedian, p90Us: percentile(smiTimes, 90) },
    ratio,
    watcher: { seconds: WATCH_SECONDS, samples, cpuPercentOfOneCore: cpuShare },
    exporterScrape: scrape,
    fallbackLatency: fallback,
    ggufEstimate,
    llamaDryRun,
    historyImport: historyImport.figures,
    trendAnalysis: trendAnalysis.figures,
    wholeGpu: wholeGpu.figures,
    fleet: fleet.result,
    driverCallsPerMinute: driverCalls,
    targets: {
      nvmlUsPerGpu: 20,
      nvmlSamplerRoundTripUs: sampler.targetUs,
      nvmlSamplerMB: sampler.targetMB,
      ratio: 100,
      watcherCpuPercent: 0.1,
      fallbackLatencyMs: 50,
      ggufEstimateMs: ggufEstimate.targetMs,
      llamaDryRunMs: llamaDryRun.targets.dryRunMs,
      dryRunEstimateMs: llamaDryRun.targets.estimateMs,
      processListingsPerMinuteSteady: PROCESS_LISTINGS_PER_MINUTE_TARGET,
      importPauseMs: 50,
      trendAnalysisMs: ANALYSIS_TARGET_MS,
      falseLeakVerdicts: 0,
      fleetRefreshMs: fleet.result.targets.ms,
      fleetRefreshMB: fleet.result.targets.mb,
    },
    met: rows.every((r) => r.ok),
  };
  const dir = join(repoRoot, 'bench', 'results');
  await mkdir(dir, { recursive: true });
  const file = join(dir, `bench-${result.date.replace(/[:.]/g, '-')}.json`);
  await writeFile(file, `${JSON.stringify(result, null, 2)}\n`);
  await writeFile(join(dir, 'latest.json'), `${JSON.stringify(result, null, 2)}\n`);
  console.log(`\nsaved ${file}`);
}

await main();
