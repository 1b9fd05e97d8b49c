/** A model server's last lines: line ends as terminals see them, redraws, cuts, separate streams. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { OutputLines } from '../../../src/core/servers/output-lines.ts';

describe('server output lines', () => {
  it('ends lines at \\n, \\r\\n (also split across chunks) and a lone \\r', () => {
    const o = new OutputLines();
    o.push('main: loading model\r');
    o.push('\nllama_kv_cache: CUDA0 KV buffer size = 512.00 MiB\r\nmain: model loaded\n');
    assert.deepEqual(o.last(), ['main: loading model', 'llama_kv_cache: CUDA0 KV buffer size = 512.00 MiB', 'main: model loaded']);
  });

  it('a progress bar redrawn with \\r keeps only its last state', () => {
    const o = new OutputLines();
    o.push('pulling manifest\n');
    o.push('downloading  10%\rdownloading  55%\rdownloading 100%\r');
    o.push('\ndone\n');
    assert.deepEqual(o.last(), ['pulling manifest', 'downloading 100%', 'done']);
  });

  it('keeps the last lines only, and the unfinished line of each stream', () => {
    const o = new OutputLines({ keep: 3 });
    for (let i = 0; i < 100; i++) o.push(`line ${i}\n`, 'stdout');
    o.push('err: half a li', 'stderr');
    o.push('out: pending', 'stdout');
    o.push('ne\n', 'stderr');
    assert.deepEqual(o.last(), ['line 99', 'err: half a line', 'out: pending']);
  });

  it('cuts a long line and says how much was dropped, without holding it', () => {
    const o = new OutputLines({ maxLineChars: 20 });
    for (let i = 0; i < 1000; i++) o.push('x'.repeat(1000));
    assert.deepEqual(o.last(), [`${'x'.repeat(20)}… (999980 more characters)`]);
    o.push('\nnext\n');
    assert.deepEqual(o.last(), [`${'x'.repeat(20)}… (999980 more characters)`, 'next']);
  });
});
