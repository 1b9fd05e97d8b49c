/** RAM and swap beside VRAM: field note 001's spill named as an event, low RAM once, quiet otherwise. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { SystemMemory } from '../../../src/core/history/types.ts';
import { grewMost, parseStatus, type ProcessRss } from '../../../src/core/trend/process-rss.ts';
import { SpillDetector } from '../../../src/core/trend/spill.ts';
import { MiB } from '../../../src/core/units.ts';

const T0 = Date.parse('2025-10-31T07:14:00Z');
const mem = (ramMiB: number, swapMiB: number): SystemMemory => ({
  ramUsed: ramMiB * MiB,
  ramTotal: 16_384 * MiB,
  swapUsed: swapMiB * MiB,
  swapTotal: 8192 * MiB,
});

describe('spill detector', () => {
  it('names field note 001: RAM 789 MB → 6 GB and swap 0 → 1.3 GB within minutes, once', () => {
    const d = new SpillDetector();
    const events = [];
    // Quiet for ten minutes, then the cascade over three minutes (a reading every 5 s), then it stays.
    for (let s = -600; s < 0; s += 5) events.push(...d.observe(T0 + s * 1000, mem(752, 0)));
    for (let s = 0; s <= 180; s += 5) events.push(...d.observe(T0 + s * 1000, mem(752 + (s / 180) * (5722 - 752), (s / 180) * 1240)));
    for (let s = 185; s < 1200; s += 5) events.push(...d.observe(T0 + s * 1000, mem(5722, 1240)));
    assert.equal(events.length, 1);
    const [e] = events;
    assert.equal(e?.kind, 'spill');
    assert.match(e?.text ?? '', /^RAM 752 MiB → [1-5]\.\d GiB and swap 0 MiB → \d+ MiB within [1-3] min$/);
    assert.ok((e?.start ?? 0) >= T0 - 5000 && (e?.start ?? 0) <= T0, 'dated from where the rise began');
  });

  it('a slow rise over an hour, and swap that was already in use, are no spill', () => {
    const d = new SpillDetector();
    const events = [];
    for (let s = 0; s < 3600; s += 5) events.push(...d.observe(T0 + s * 1000, mem(2000 + s * 1.2, 900 + s * 0.1)));
    assert.deepEqual(events, []);
  });

  it('available RAM below the setting is told once, and again only after it recovered', () => {
    const d = new SpillDetector({ minAvailableMiB: 1024 });
    const at = (s: number, ram: number) => d.observe(T0 + s * 1000, mem(ram, 0));
    assert.deepEqual(at(0, 15_000), []);
    const low = at(1, 15_600);
    assert.equal(low.length, 1);
    assert.equal(low[0]?.kind, 'low-ram');
    assert.match(low[0]?.text ?? '', /^only 784 MiB of RAM available \(of 16\.0 GiB\), less than 1\.0 GiB$/);
    assert.deepEqual(at(2, 15_700), []);
    assert.deepEqual(at(3, 10_000), []);
    // Back down for a while, then low again (more than the spill window later: no spill, only low RAM).
    assert.deepEqual(
      at(1000, 15_600).map((e) => e.kind),
      ['low-ram'],
    );
    const off = new SpillDetector({ minAvailableMiB: 0 });
    assert.deepEqual(off.observe(T0, mem(16_300, 0)), []);
  });
});

describe('process RSS', () => {
  it('reads Name and VmRSS from a status file; kernel threads have none', () => {
    assert.deepEqual(parseStatus(24817, 'Name:\tpython3\nUmask:\t0022\nVmRSS:\t 5242880 kB\n'), { pid: 24817, name: 'python3', rssMiB: 5120 });
    assert.equal(parseStatus(2, 'Name:\tkthreadd\nState:\tS (sleeping)\n'), null);
  });

  it('names the process whose RSS grew the most, a new one counting from 0', () => {
    const table = (rows: Array<[number, string, number]>) => new Map<number, ProcessRss>(rows.map(([pid, name, rssMiB]) => [pid, { pid, name, rssMiB }]));
    const before = table([
      [1187, 'Xorg', 300],
      [24817, 'python3', 700],
    ]);
    const after = table([
      [1187, 'Xorg', 310],
      [24817, 'python3', 5800],
      [30000, 'new', 900],
    ]);
    assert.deepEqual(grewMost(before, after), { process: { pid: 24817, name: 'python3', rssMiB: 5800 }, grewMiB: 5100 });
    assert.equal(grewMost(after, before), null);
  });
});
