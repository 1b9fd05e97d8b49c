/**
 * Builds the fake libnvidia-ml.so.1 from test/fixtures/fake-nvml with gcc, and writes its state.
 * Variants stand for old drivers. Builds are cached by source hash, so a run compiles each once.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, existsSync, openSync, readFileSync, writeSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rename, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { withFileLock } from '../../src/core/file-lock.ts';
import { GiB, MiB } from '../../src/core/units.ts';

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

/**
 * Compiles the fake (once per source version) and returns the absolute path of libnvidia-ml.so.1.
 * Kept in this checkout's `.cache/` (git-ignored), not the machine's shared temp folder: another
 * user's or checkout's folder there could hold anything under that name.
 */
export async function buildFakeNvml(variant: FakeVariant = 'current'): Promise<string> {
  const code = await readFile(source);
  const hash = createHash('sha256').update(code).update(variant).digest('hex').slice(0, 16);
  const dir = join(repoRoot, '.cache', 'fake-nvml', `${variant}-${hash}`);
  const lib = join(dir, 'libnvidia-ml.so.1');
  if (existsSync(lib)) return lib;
  await mkdir(dir, { recursive: true });
  const partial = `${lib}.${process.pid}.tmp`;
  try {
    await run('gcc', [
      '-shared',
      '-fPIC',
      '-O2',
      '-Wall',
      '-fvisibility=hidden',
      '-Wl,-soname,libnvidia-ml.so.1',
      ...variantFlags[variant],
      '-o',
      partial,
      source,
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
  /** A used figure beyond 2^53, e.g. NVML's "not available" (2^64−1); wins over `used`. */
  usedU64?: bigint;
  reserved?: number;
  /** Overrides the free figure (else total − used − reserved). */
  free?: number | bigint;
  utilGpu?: number;
  utilMem?: number;
  temp?: number;
  powerMw?: number;
  persistence?: 0 | 1;
  handleRc?: number;
  rc?: number;
  memoryV2Rc?: number;
  unsupported?: Array<'memory' | 'util' | 'temp' | 'power' | 'persistence' | 'graphics' | 'names'>;
  processes?: FakeProcess[];
}

export interface FakeState {
  initRc?: number;
  countRc?: number;
  initDelayMs?: number;
  /** Every call to this NVML function sleeps `hangMs` first (a driver call that hangs). */
  hangCall?: string;
  hangMs?: number;
  /** A file the fake appends "<function> <pid>" to when a hang (or the init delay) starts; a FIFO stays open until that process dies. */
  hangMark?: string;
  procStride?: 24 | 32;
  procGrow?: number;
  driver?: string;
  nvmlVersion?: string;
  devices: FakeDevice[];
}

export function renderFakeState(state: FakeState): string {
  const lines: string[] = [];
  const put = (key: string, value: string | number | bigint | undefined) => {
    if (value !== undefined) lines.push(`${key}=${value}`);
  };
  put('init_rc', state.initRc);
  put('count_rc', state.countRc);
  put('init_delay_ms', state.initDelayMs);
  put('hang_call', state.hangCall);
  put('hang_ms', state.hangMs);
  put('hang_mark', state.hangMark);
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
    put(`${k}used`, d.usedU64 ?? d.used);
    put(`${k}reserved`, d.reserved);
    put(`${k}free`, d.free);
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
  return `${lines.join('\n')}\n`;
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

export { GiB, MiB };
/** NVML's "not available" for a 64-bit figure (NVML_VALUE_NOT_AVAILABLE_ULONGLONG). */
export const NVML_U64_NOT_AVAILABLE = 0xffff_ffff_ffff_ffffn;

/** The fake's shared counter file: 64 records of a NUL-padded 56-byte name, a 32-bit count and 4 bytes of padding. */
const COUNTER_RECORDS = 64;
const COUNTER_RECORD_BYTES = 64;

/**
 * Calls per NVML function, counted by the fake library in every process that loads it from now on
 * (the NVML worker processes included): a file of counters, named by FAKE_NVML_COUNTS, that the fake
 * maps shared, so it is set before the worker starts.
 */
export async function fakeNvmlCallCounter(): Promise<{ calls: (fn: string) => number; reset: () => void }> {
  const dir = await mkdtemp(join(tmpdir(), 'vram-guard-nvml-counts-'));
  const file = join(dir, 'counts');
  const size = COUNTER_RECORDS * COUNTER_RECORD_BYTES;
  await writeFile(file, Buffer.alloc(size));
  process.env.FAKE_NVML_COUNTS = file;
  const calls = (fn: string): number => {
    const table = readFileSync(file);
    for (let i = 0; i < COUNTER_RECORDS; i++) {
      const record = table.subarray(i * COUNTER_RECORD_BYTES, (i + 1) * COUNTER_RECORD_BYTES);
      const name = record.subarray(0, 56).toString('latin1').replace(/\0.*$/s, '');
      if (!name) break;
      if (name === fn) return record.readUInt32LE(56);
    }
    return 0;
  };
  // Zeroed in place, never truncated: a worker maps the file.
  const reset = (): void => {
    const fd = openSync(file, 'r+');
    try {
      writeSync(fd, Buffer.alloc(size), 0, size, 0);
    } finally {
      closeSync(fd);
    }
  };
  return { calls, reset };
}

/** Reads a state file's text back into a FakeState (the inverse of renderFakeState). */
export function parseFakeState(text: string): FakeState {
  const state: FakeState = { devices: [] };
  const num = (v: string) => Number(v);
  for (const raw of text.split('\n')) {
    const line = raw.replace(/#.*$/, '').trim();
    const eq = line.indexOf('=');
    if (eq < 0) continue;
    const key = line.slice(0, eq);
    const value = line.slice(eq + 1);
    const dev = /^dev(\d+)\.(.+)$/.exec(key);
    if (!dev) {
      if (key === 'init_rc') state.initRc = num(value);
      else if (key === 'count_rc') state.countRc = num(value);
      else if (key === 'init_delay_ms') state.initDelayMs = num(value);
      else if (key === 'hang_call') state.hangCall = value;
      else if (key === 'hang_ms') state.hangMs = num(value);
      else if (key === 'hang_mark') state.hangMark = value;
      else if (key === 'proc_stride') state.procStride = num(value) as 24 | 32;
      else if (key === 'proc_grow') state.procGrow = num(value);
      else if (key === 'driver') state.driver = value;
      else if (key === 'nvml_version') state.nvmlVersion = value;
      else if (key === 'device_count') while (state.devices.length < num(value)) state.devices.push({});
      continue;
    }
    const index = Number(dev[1]);
    while (state.devices.length <= index) state.devices.push({});
    const d = state.devices[index]!;
    const field = dev[2]!;
    switch (field) {
      case 'name':
        d.name = value;
        break;
      case 'uuid':
        d.uuid = value;
        break;
      case 'total':
        d.total = num(value);
        break;
      case 'used': {
        const used = BigInt(value);
        if (used > BigInt(Number.MAX_SAFE_INTEGER)) d.usedU64 = used;
        else d.used = Number(used);
        break;
      }
      case 'reserved':
        d.reserved = num(value);
        break;
      case 'free':
        d.free = BigInt(value);
        break;
      case 'util_gpu':
        d.utilGpu = num(value);
        break;
      case 'util_mem':
        d.utilMem = num(value);
        break;
      case 'temp':
        d.temp = num(value);
        break;
      case 'power_mw':
        d.powerMw = num(value);
        break;
      case 'persistence':
        d.persistence = num(value) as 0 | 1;
        break;
      case 'handle_rc':
        d.handleRc = num(value);
        break;
      case 'rc':
        d.rc = num(value);
        break;
      case 'memv2_rc':
        d.memoryV2Rc = num(value);
        break;
      case 'unsupported':
        d.unsupported = value.split(',') as FakeDevice['unsupported'];
        break;
      case 'proc': {
        const [pid, kind, used, ...name] = value.split(':');
        const p: FakeProcess = { pid: Number(pid), kind: kind as FakeProcess['kind'], used: used === 'na' ? 'na' : Number(used) };
        if (name.join(':')) p.name = name.join(':');
        d.processes ??= [];
        d.processes.push(p);
        break;
      }
    }
  }
  return state;
}

/**
 * Read-modify-write of a state file shared by several processes (emulated model servers that
 * "allocate" VRAM): the product's file lock serialises writers, the new state replaces the file by
 * an atomic rename, so the fake library never reads half a file.
 */
export async function updateFakeState(path: string, change: (state: FakeState) => FakeState | undefined): Promise<FakeState> {
  // Under the product's own OS lock: released by the kernel if a writer dies, never broken while one lives.
  return withFileLock(
    `${path}.lock`,
    async () => {
      const current = parseFakeState(await readFile(path, 'utf8').catch(() => ''));
      const next = change(current) ?? current;
      const tmp = `${path}.${process.pid}.${Date.now()}.tmp`;
      await writeFile(tmp, renderFakeState(next));
      await rename(tmp, path);
      return next;
    },
    { name: 'fake NVML state' },
  );
}

/** The 8 GB card a user measured on, at rest: the desktop (Xorg, gnome-shell) holds 1464 MiB. */
export function desktopRtx3070(over: Partial<FakeDevice> = {}): FakeState {
  return {
    driver: '550.54.14',
    nvmlVersion: '12.550.54.14',
    devices: [
      {
        name: 'NVIDIA GeForce RTX 3070',
        uuid: 'GPU-5c1b2d6e-8f0a-4b1c-9d2e-3f4a5b6c7d8e',
        total: 8 * GiB,
        used: 1464 * MiB,
        reserved: 0,
        persistence: 1,
        processes: [
          { pid: 1187, used: 1140 * MiB, name: '/usr/lib/xorg/Xorg', kind: 'graphics' },
          { pid: 2290, used: 324 * MiB, name: 'gnome-shell', kind: 'graphics' },
        ],
        ...over,
      },
    ],
  };
}

/** A 4 GiB laptop GPU at 93.5 %: CRITICAL at the default thresholds. */
export const laptopA1000AtCritical: FakeState = {
  driver: '550.54.14',
  devices: [
    {
      name: 'NVIDIA RTX A1000 Laptop GPU',
      uuid: 'GPU-a1000',
      total: 4 * GiB,
      used: 3830 * MiB,
      reserved: 94 * MiB,
      persistence: 1,
      processes: [{ pid: 2001, used: 3686 * MiB, name: '/opt/swictation/bin/python3' }],
    },
  ],
};
