/**
 * The load report parser against published llama.cpp load logs (test/fixtures/estimate-truth):
 * every figure checked here is one llama.cpp printed in those logs. The real binary's own output,
 * plain and --log-jsonl, is read in test/integration/load-report-real.test.ts.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { deviceParts, isHostBuffer, LoadReportParser } from '../../../src/core/estimate/load-report.ts';
import { MiB } from '../../../src/core/units.ts';
import { repoRoot } from '../../helpers/fake-nvml.ts';

function printed(id: string): string[] {
  return (JSON.parse(readFileSync(join(repoRoot, 'test', 'fixtures', 'estimate-truth', `${id}.json`), 'utf8')) as { printed: string[] }).printed;
}

const mib = (x: number) => Math.round(x * MiB);

test('a published CUDA load (Qwen3 4B, llama-server, 8k): every buffer, host and device, and complete after the compute lines', () => {
  let completed = 0;
  const p = new LoadReportParser({ onComplete: () => completed++ });
  for (const line of printed('qwen3-4b-q4km-server-8k')) p.push(`${line}\n`, 'stderr');
  // The compute lines were the last printed: the report completes when the output goes on or ends.
  assert.equal(p.report().complete, false);
  p.push('srv    load_model: initializing slots, n_slots = 1\n', 'stderr');
  assert.equal(completed, 1);
  const r = p.report();
  assert.equal(r.complete, true);
  assert.deepEqual(r.buffers, [
    { part: 'model', buffer: 'CPU_Mapped', bytes: mib(304.28) },
    { part: 'model', buffer: 'CUDA0', bytes: mib(2375.91) },
    { part: 'output', buffer: 'CUDA_Host', bytes: mib(2.32) },
    { part: 'kv', buffer: 'CUDA0', bytes: mib(1152) },
    { part: 'compute', buffer: 'CUDA0', bytes: mib(85.01) },
    { part: 'compute', buffer: 'CUDA_Host', bytes: mib(28.02) },
  ]);
  assert.deepEqual(deviceParts(r), { model: mib(2375.91), kv: mib(1152), rs: 0, compute: mib(85.01), output: 0 });
});

test('recurrent state buffers (Qwen3.5 35B-A3B hybrid) are the RS part, on the host and the device', () => {
  const p = new LoadReportParser();
  for (const line of printed('qwen35-35b-a3b-hybrid-4-slots')) p.push(`${line}\n`);
  assert.deepEqual(
    p.report().buffers.filter((b) => b.part === 'rs'),
    [
      { part: 'rs', buffer: 'CPU', bytes: mib(134) },
      { part: 'rs', buffer: 'CUDA0', bytes: mib(117.25) },
    ],
  );
});

test('older names of the same lines (llama_new_context_with_model, llama_kv_cache_init) are read too', () => {
  const p = new LoadReportParser();
  p.push('llama_kv_cache_init:      CUDA0 KV buffer size =  4096.00 MiB\n');
  p.push('llama_new_context_with_model:  CUDA_Host  output buffer size =     0.12 MiB\n');
  p.push('llama_new_context_with_model:      CUDA0 compute buffer size =  2144.00 MiB\n');
  p.end();
  assert.deepEqual(deviceParts(p.report()), { model: 0, kv: mib(4096), rs: 0, compute: mib(2144), output: 0 });
  assert.equal(p.report().complete, true);
});

test('host buffers are told apart from device buffers by llama.cpp buffer type names', () => {
  for (const host of ['CPU', 'CPU_Mapped', 'CPU_REPACK', 'CUDA_Host', 'ROCm_Host']) assert.equal(isHostBuffer(host), true, host);
  for (const device of ['CUDA0', 'ROCm0', 'Vulkan0', 'SYCL0', 'Metal_Mapped']) assert.equal(isHostBuffer(device), false, device);
});

test('lines cut across chunks and CRLF line ends are read whole', () => {
  const p = new LoadReportParser();
  const text = 'load_tensors:        CUDA0 model buffer size =  1242.03 MiB\r\nsched_reserve:      CUDA0 compute buffer size =    85.01 MiB\r\nmain: done\r\n';
  for (let i = 0; i < text.length; i += 7) p.push(Buffer.from(text.slice(i, i + 7)), 'stderr');
  assert.deepEqual(deviceParts(p.report()), { model: mib(1242.03), kv: 0, rs: 0, compute: mib(85.01), output: 0 });
  assert.equal(p.report().complete, true);
});
