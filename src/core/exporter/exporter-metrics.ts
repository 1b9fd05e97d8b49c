/**
 * The exporter's metrics in Prometheus's text format, through prom-client, from one snapshot:
 * per GPU memory (bytes), level and thresholds; per process memory with the task or server that
 * holds it; per task/server what NVML measures and what the server itself reports; the residual;
 * the sampler's health. Rendering reads the snapshot only: it never calls the driver.
 */
import { Counter, Gauge, Registry } from 'prom-client';
import type { GpuDevice } from '../gpu/types.ts';
import type { ServerReport } from '../servers/adapters/types.ts';
import { reportedVram } from '../servers/adapters/types.ts';
import type { Owner } from '../servers/server-registry.ts';
import { levelRank } from '../watch/levels.ts';
import { DcgmGauges } from './dcgm-gauges.ts';
import type { ExporterSnapshot } from './exporter-snapshot.ts';

export const METRIC_PREFIX = 'vram_guard_';

const GPU_LABELS = ['hostname', 'gpu', 'uuid', 'name'] as const;
const PROCESS_LABELS = ['hostname', 'gpu', 'uuid', 'pid', 'process', 'task', 'server'] as const;
const PROCESS_INFO_LABELS = ['hostname', 'gpu', 'uuid', 'pid', 'kind', 'role', 'model', 'port', 'unit', 'started_by'] as const;
const TASK_GPU_LABELS = ['hostname', 'gpu', 'uuid', 'task', 'server'] as const;
const TASK_LABELS = ['hostname', 'task', 'server'] as const;

type Labels<T extends readonly string[]> = Record<T[number], string>;

export interface ExporterMetricsOptions {
  /** Also serve dcgm-exporter's names for the memory gauges (default true). */
  dcgmNames?: boolean;
}

export class ExporterMetrics {
  readonly registry = new Registry();
  private readonly dcgm: DcgmGauges | null;
  private readonly g;

  constructor(options: ExporterMetricsOptions = {}) {
    const r = [this.registry];
    const gauge = <T extends readonly string[]>(name: string, help: string, labelNames: T) =>
      new Gauge<T[number]>({ name: METRIC_PREFIX + name, help, labelNames, registers: r });
    this.g = {
      used: gauge('gpu_memory_used_bytes', 'GPU memory in use, in bytes (NVML "used").', GPU_LABELS),
      free: gauge('gpu_memory_free_bytes', 'GPU memory free, in bytes.', GPU_LABELS),
      total: gauge('gpu_memory_total_bytes', 'GPU memory in all, in bytes.', GPU_LABELS),
      reserved: gauge('gpu_memory_reserved_bytes', 'GPU memory the driver reserves, in bytes (absent when the source cannot tell).', GPU_LABELS),
      level: gauge('gpu_level', 'Pressure level with hysteresis: 0 OK, 1 WARNING, 2 CRITICAL, 3 EMERGENCY.', GPU_LABELS),
      threshold: gauge('gpu_threshold_bytes', 'Used memory at which each level starts on this GPU, in bytes.', [...GPU_LABELS, 'level'] as const),
      hysteresis: gauge('gpu_hysteresis_bytes', 'How far below a threshold used memory must fall to leave its level, in bytes.', GPU_LABELS),
      residual: gauge('gpu_residual_bytes', 'Used memory no running process accounts for (exited processes, the driver), in bytes.', GPU_LABELS),
      gpuUp: gauge('gpu_up', '1 when the GPU could be read in the latest sample, 0 when it reported an error.', GPU_LABELS),
      process: gauge('process_memory_used_bytes', 'GPU memory a process holds, in bytes, with the task or server it belongs to when known.', PROCESS_LABELS),
      processInfo: gauge(
        'process_info',
        'What a GPU process is, from /proc (always 1): its kind, role, model, first listening port, systemd unit, and who started it (task, run, outside).',
        PROCESS_INFO_LABELS,
      ),
      taskUsed: gauge('task_memory_used_bytes', 'GPU memory the processes of a task or model server hold on a GPU (NVML), in bytes.', TASK_GPU_LABELS),
      taskExpected: gauge(
        'task_expected_bytes',
        'GPU memory the VRAM gate expected the task to take (its needs, or the model estimate), in bytes.',
        TASK_LABELS,
      ),
      serverUp: gauge('server_up', '1 when the model server answered its API, else 0.', TASK_LABELS),
      serverReady: gauge('server_ready', '1 when the model server says it is ready (its health check passes), else 0.', TASK_LABELS),
      serverReported: gauge('server_reported_memory_bytes', 'GPU memory the model server says its models take, in bytes.', TASK_LABELS),
      serverContext: gauge('server_context_length', 'The context size the model server reports, in tokens.', TASK_LABELS),
      serverSleeping: gauge('server_sleeping', '1 when the model server (vLLM) is asleep, else 0.', TASK_LABELS),
      serverModel: gauge('server_model_loaded', 'A model the server has loaded (always 1).', [...TASK_LABELS, 'model'] as const),
      sourceUp: gauge('source_up', '1 when a GPU source is open and sampling, else 0.', ['hostname', 'source'] as const),
      lastSample: gauge('last_sample_timestamp_seconds', 'When the latest sample was taken, in seconds since the epoch.', ['hostname'] as const),
      sampleAge: gauge('sample_age_seconds', 'Age of the latest sample at scrape time, in seconds.', ['hostname'] as const),
      errors: new Counter({
        name: `${METRIC_PREFIX}sample_errors_total`,
        help: 'Samples that failed since the exporter started.',
        labelNames: ['hostname'] as const,
        registers: r,
      }),
    };
    this.dcgm = options.dcgmNames === false ? null : new DcgmGauges(this.registry);
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /** The text a scrape returns for this snapshot. */
  async render(s: ExporterSnapshot): Promise<string> {
    for (const metric of Object.values(this.g)) metric.reset();
    this.dcgm?.reset();
    const hostname = s.hostname;
    this.g.sourceUp.set({ hostname, source: s.source.kind ?? '' }, s.source.up ? 1 : 0);
    this.g.errors.inc({ hostname }, s.sampleErrors);
    if (s.latest) {
      this.g.lastSample.set({ hostname }, s.latest.sample.timestamp / 1000);
      this.g.sampleAge.set({ hostname }, Math.max(0, s.now - s.latest.sample.timestamp) / 1000);
    }
    if (s.source.up && s.latest) this.setGpus(s, s.latest);
    this.setOwners(s.hostname, s.owners, s.reports);
    return this.registry.metrics();
  }

  private setGpus(s: ExporterSnapshot, latest: NonNullable<ExporterSnapshot['latest']>): void {
    const { sample, levels, thresholds } = latest;
    const byOwnerPid = new Map<number, Owner>();
    for (const g of s.ledger ?? []) for (const e of g.owned) for (const p of e.processes) byOwnerPid.set(p.pid, e.owner);
    sample.devices.forEach((d, i) => {
      const labels = gpuLabels(s.hostname, d);
      this.g.gpuUp.set(labels, d.memory ? 1 : 0);
      if (!d.memory) return;
      this.g.used.set(labels, d.memory.used);
      this.g.free.set(labels, d.memory.free);
      this.g.total.set(labels, d.memory.total);
      if (d.memory.reserved !== null) this.g.reserved.set(labels, d.memory.reserved);
      this.g.level.set(labels, levelRank(levels[i] ?? 'ok'));
      const t = thresholds[i];
      if (t) {
        for (const level of ['warning', 'critical', 'emergency'] as const) this.g.threshold.set({ ...labels, level }, t[level]);
        this.g.hysteresis.set(labels, t.hysteresis);
      }
      this.dcgm?.set(d, s.hostname, sample.driverVersion);
      const ledger = s.ledger?.find((g) => g.gpu === d.index);
      if (ledger?.residualBytes !== null && ledger?.residualBytes !== undefined) this.g.residual.set(labels, ledger.residualBytes);
      for (const p of d.processes) {
        const r = ledger?.recognised?.get(p.pid);
        if (r) {
          const startedBy = byOwnerPid.has(p.pid) ? 'task' : r.startedBy;
          this.g.processInfo.set(
            {
              hostname: s.hostname,
              gpu: labels.gpu,
              uuid: labels.uuid,
              pid: String(p.pid),
              kind: r.kind,
              role: r.role ?? '',
              model: r.model ?? '',
              port: r.ports[0] === undefined ? '' : String(r.ports[0]),
              unit: r.unit?.name ?? '',
              started_by: startedBy,
            },
            1,
          );
        }
        if (p.usedBytes === null) continue;
        const owner = byOwnerPid.get(p.pid);
        this.g.process.set(
          {
            hostname: s.hostname,
            gpu: labels.gpu,
            uuid: labels.uuid,
            pid: String(p.pid),
            process: p.name ?? '',
            task: owner?.name ?? '',
            server: owner ? serverLabel(owner) : '',
          },
          p.usedBytes,
        );
      }
      for (const e of ledger?.owned ?? []) {
        if (e.nvmlBytes !== null)
          this.g.taskUsed.set({ hostname: s.hostname, gpu: labels.gpu, uuid: labels.uuid, task: e.owner.name, server: serverLabel(e.owner) }, e.nvmlBytes);
      }
    });
  }

  private setOwners(hostname: string, owners: readonly Owner[], reports: ReadonlyMap<string, ServerReport>): void {
    for (const owner of owners) {
      const labels: Labels<typeof TASK_LABELS> = { hostname, task: owner.name, server: serverLabel(owner) };
      if (owner.expectedBytes !== null && owner.expectedBytes !== undefined) this.g.taskExpected.set(labels, owner.expectedBytes);
      const report = reports.get(owner.name);
      if (!report) continue;
      this.g.serverUp.set(labels, report.reachable ? 1 : 0);
      this.g.serverReady.set(labels, report.healthy ? 1 : 0);
      const reported = reportedVram(report);
      if (reported !== null) this.g.serverReported.set(labels, reported);
      const context = report.contextLength ?? report.models.find((m) => m.contextLength !== null)?.contextLength ?? null;
      if (context !== null) this.g.serverContext.set(labels, context);
      if (report.sleeping !== null) this.g.serverSleeping.set(labels, report.sleeping ? 1 : 0);
      for (const m of report.models) this.g.serverModel.set({ ...labels, model: m.name }, 1);
    }
  }
}

function gpuLabels(hostname: string, d: GpuDevice): Labels<typeof GPU_LABELS> {
  return { hostname, gpu: String(d.index), uuid: d.uuid ?? '', name: d.name ?? '' };
}

/** The `server` label: the server kind, empty for an ordinary task. */
function serverLabel(owner: Owner): string {
  return owner.kind === 'task' ? '' : owner.kind;
}
