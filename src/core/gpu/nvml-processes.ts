/**
 * Reads NVML's running-process lists with the count protocol:
 * ask with a count of 0, allocate with slack, retry if the list grew in between.
 * Detects the 535.43–535.86 drivers that write 32-byte entries from the _v3 calls.
 */
import { NvmlReturn } from './nvml-errors.ts';
import type { DeviceHandle, ProcessListCall } from './nvml-library.ts';

export interface RawProcess {
  pid: number;
  /** null when NVML says "not available" (ULLONG_MAX). */
  usedBytes: number | null;
}

export type ProcessListResult = { ok: true; processes: RawProcess[]; entrySize: number } | { ok: false; rc: number };

const NOT_AVAILABLE = 0xffff_ffff_ffff_ffffn;
const MARKER = 0xa5;
const SLACK = 8;
const MAX_TRIES = 4;
const WIDEST_ENTRY = 32;

export function entrySizeOf(version: 1 | 2 | 3): number {
  return version === 1 ? 16 : 24;
}

export function readProcessList(call: ProcessListCall, device: DeviceHandle): ProcessListResult {
  const countBuf = Buffer.alloc(4);
  let rc = call.call(device, countBuf, null);
  if (rc === NvmlReturn.SUCCESS) return { ok: true, processes: [], entrySize: entrySizeOf(call.version) };
  if (rc !== NvmlReturn.INSUFFICIENT_SIZE) return { ok: false, rc };

  for (let attempt = 0; attempt < MAX_TRIES; attempt++) {
    const capacity = countBuf.readUInt32LE(0) + SLACK;
    // Room for the widest entries any driver writes, filled with a marker to see how far it wrote.
    const infos = Buffer.alloc(capacity * WIDEST_ENTRY, MARKER);
    countBuf.writeUInt32LE(capacity, 0);
    rc = call.call(device, countBuf, infos);
    if (rc === NvmlReturn.INSUFFICIENT_SIZE) continue; // more processes appeared between the calls
    if (rc !== NvmlReturn.SUCCESS) return { ok: false, rc };
    const count = countBuf.readUInt32LE(0);
    const entrySize = call.version === 3 && wroteWideEntries(infos, count) ? 32 : entrySizeOf(call.version);
    return { ok: true, processes: parseEntries(infos, count, entrySize), entrySize };
  }
  return { ok: false, rc: NvmlReturn.INSUFFICIENT_SIZE };
}

/** True when the driver wrote past `count` 24-byte entries, i.e. it used 32-byte entries. */
function wroteWideEntries(infos: Buffer, count: number): boolean {
  if (count === 0) return false;
  for (let i = count * 24; i < count * 32; i++) if (infos[i] !== MARKER) return true;
  return false;
}

function parseEntries(infos: Buffer, count: number, entrySize: number): RawProcess[] {
  const out: RawProcess[] = [];
  for (let i = 0; i < count; i++) {
    const at = i * entrySize;
    const used = infos.readBigUInt64LE(at + 8);
    out.push({ pid: infos.readUInt32LE(at), usedBytes: used === NOT_AVAILABLE ? null : Number(used) });
  }
  return out;
}
