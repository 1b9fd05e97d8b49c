/**
 * A server's output watched for CUDA-error cascades, as `vram-guard run` and model-server tasks
 * do: one scanner per stream (their lines interleave), one detector for the server, and the
 * sentence that tells a cascade — the process, how many errors how fast, the GPU's memory then,
 * and the last error line.
 */
import { formatDuration } from '../duration.ts';
import type { GpuReading } from '../watch/watcher.ts';
import { formatMiB, percentOf } from '../units.ts';
import { type Cascade, CascadeDetector, type CascadeRule, DEFAULT_CASCADE_RULE } from './cascade-detector.ts';
import { type CudaErrorLine, CudaErrorScanner } from './cuda-error-scanner.ts';

export interface CascadeWatchOptions {
  rule?: CascadeRule;
  now?: () => number;
  onCascade: (cascade: Cascade, last: CudaErrorLine) => void;
}

export class CascadeWatch {
  private readonly scanners = new Map<string, CudaErrorScanner>();
  private readonly detector: CascadeDetector;
  private readonly onCascade: CascadeWatchOptions['onCascade'];

  constructor(options: CascadeWatchOptions) {
    this.detector = new CascadeDetector(options.rule ?? DEFAULT_CASCADE_RULE, options.now);
    this.onCascade = options.onCascade;
  }

  /** Error lines seen on every stream. */
  get errors(): number {
    let n = 0;
    for (const s of this.scanners.values()) n += s.count;
    return n;
  }

  push(chunk: Buffer | string, stream = 'stdout'): void {
    let scanner = this.scanners.get(stream);
    if (!scanner) {
      scanner = new CudaErrorScanner((line) => {
        const cascade = this.detector.record();
        if (cascade) this.onCascade(cascade, line);
      });
      this.scanners.set(stream, scanner);
    }
    scanner.push(chunk);
  }
}

/** "cascade: 150 CUDA error lines in 2.9 s (52 a second) from llama-server (PID 4242); GPU 0 at 91 % (3740 MiB of 4096 MiB). Last: "…"" */
export function cascadeText(c: Cascade, last: CudaErrorLine, who: { name: string; pid: number | null; gpu: number }, reading: GpuReading | null): string {
  const device = reading?.ok ? reading.sample.devices.find((d) => d.index === who.gpu) : undefined;
  const vram = device?.memory
    ? `; GPU ${who.gpu} at ${percentOf(device.memory.used, device.memory.total).toFixed(0)} % (${formatMiB(device.memory.used)} of ${formatMiB(device.memory.total)})`
    : '';
  return `cascade: ${c.errors} CUDA error lines in ${formatDuration(c.detectedAt - c.startedAt)} (${c.perSecond.toFixed(0)} a second) from ${who.name} (PID ${who.pid ?? '?'})${vram}. Last: "${last.excerpt}"`;
}
