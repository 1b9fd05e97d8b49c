/**
 * Builds the fake libnvidia-ml.so.1 from test/fixtures/fake-nvml with gcc, and writes its state.
 * Variants stand for old drivers. Builds are cached by source hash, so a run compiles each once.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rename, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
const here = dirname(fileURLToPath(import.meta.url));
export const repoRoot = resolve(here, '..', '..');
const source = join(repoRoot, 'test', 'fixtures', 'fake-nvml', 'fake_nvml.c');

export type FakeVariant = 'current' | 'no-v3' | 'no-v2' | 'no-memory-v2' | 'oldest';

const variantFlags: Record<FakeVariant, string[]> = {
  current: [],
  'no-v3': ['-DNO_V3'],
  'no-v2': ['-DNO_V2'],
  'no-memory-v2': ['-DNO_MEMINFO_V2'],
  oldest: ['-DNO_V2', '-DNO_MEMINFO_V2'],
};

/** Compiles the fake (once per source version) and returns the absolute path of libnvidia-ml.so.1. */
export async function buildFakeNvml(variant: FakeVariant = 'current'): Promise<string> {
  const code = await readFile(source);
  const hash = createHash('sha256').update(code).update(variant).digest('hex').slice(0, 16);
  const dir = join(tmpdir(), 'vram-guard-fake-nvml', `${variant}-${hash}`);
  const lib = join(dir, 'libnvidia-ml.so.1');
  if (existsSync(lib)) return lib;
  await mkdir(dir, { recursive: true });
  const partial = `${lib}.${process.pid}.tmp`;
  try {
    await run('gcc', [
      '-shared', '-fPIC', '-O2', '-Wall', '-fvisibility=hidden',
      '-Wl,-soname,libnvidia-ml.so.1', ...variantFlags[variant], '-o', partial, source,
    ]);
  } catch (err) {
    throw new Error(`Could not compile the fake NVML library with gcc (install it: apt-get install gcc): ${String(err)}`);
  }
  await rename(partial, lib);
  return lib;
}

export interface FakeProcess {
  pid: number;
  kind?: 'compute' | 'graphics' | 'both';
  /** bytes, or 'na' for NVML's "not available" */
  used: number | 'na';
  name?: string;
}

export interface FakeDevice {
  name?: string;
  uuid?: string;
  total?: number;
  used?: number;
  reserved?: number;
  utilGpu?: number;
  utilMem?: number;
  temp?: number;
  powerMw?: number;
  persistence?: 0 | 1;
  handleRc?: number;
  rc?: number;
  memoryV2Rc?: number;
  unsupported?: Array<'util' | 'temp' | 'power' | 'persistence' | 'graphics' | 'names'>;
  processes?: FakeProcess[];
}

export interface FakeState {
  initRc?: number;
  countRc?: number;
  initDelayMs?: number;
  procStride?: 24 | 32;
  procGrow?: number;
  driver?: string;
  nvmlVersion?: string;
  devices: FakeDevice[];
}

export function renderFakeState(state: FakeState): string {
  const lines: string[] = [];
  const put = (key: string, value: string | number | undefined) => {
    if (value !== undefined) lines.push(`${key}=${value}`);
  };
  put('init_rc', state.initRc);
  put('count_rc', state.countRc);
  put('init_delay_ms', state.initDelayMs);
  put('proc_stride', state.procStride);
  put('proc_grow', state.procGrow);
  put('driver', state.driver);
  put('nvml_version', state.nvmlVersion);
  put('device_count', state.devices.length);
  state.devices.forEach((d, i) => {
    const k = `dev${i}.`;
    put(`${k}name`, d.name);
    put(`${k}uuid`, d.uuid);
    put(`${k}total`, d.total);
    put(`${k}used`, d.used);
    put(`${k}reserved`, d.reserved);
    put(`${k}util_gpu`, d.utilGpu);
    put(`${k}util_mem`, d.utilMem);
    put(`${k}temp`, d.temp);
    put(`${k}power_mw`, d.powerMw);
    put(`${k}persistence`, d.persistence);
    put(`${k}handle_rc`, d.handleRc);
    put(`${k}rc`, d.rc);
    put(`${k}memv2_rc`, d.memoryV2Rc);
    if (d.unsupported?.length) put(`${k}unsupported`, d.unsupported.join(','));
    for (const p of d.processes ?? []) put(`${k}proc`, `${p.pid}:${p.kind ?? 'compute'}:${p.used}:${p.name ?? ''}`);
  });
  return lines.join('\n') + '\n';
}

/** A state file the fake reads; `write` replaces it atomically (write a temp file, rename over). */
export class FakeNvmlState {
  readonly path: string;
  private serial = 0;

  private constructor(path: string) {
    this.path = path;
  }

  static async create(state: FakeState): Promise<FakeNvmlState> {
    const dir = await mkdtemp(join(tmpdir(), 'vram-guard-state-'));
    const s = new FakeNvmlState(join(dir, 'nvml-state.txt'));
    await s.write(state);
    return s;
  }

  async write(state: FakeState): Promise<void> {
    const tmp = `${this.path}.${++this.serial}.tmp`;
    await writeFile(tmp, renderFakeState(state));
    await rename(tmp, this.path);
  }
}

export const MiB = 1024 * 1024;
export const GiB = 1024 * MiB;
