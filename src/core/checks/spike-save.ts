/**
 * Saves a spike report as Markdown and JSON under a directory (`.vram-guard/spikes/` in the
 * workspace), named by the time it started: `spike-2026-02-21T22-40-28Z.md` and `.json`. A report is
 * never overwritten: each file is written to a temporary name, then linked to its final name, which
 * fails if that name exists (a second spike in the same second gets `-2`, `-3`, ...).
 */
import { randomBytes } from 'node:crypto';
import { link, mkdir, rename, stat, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { spikeJson, spikeMarkdown } from './spike-report.ts';
import type { SpikeReport } from './spike.ts';

export const SPIKES_DIR = join('.vram-guard', 'spikes');

export interface SavedSpike {
  markdownPath: string;
  jsonPath: string;
}

/** "2026-02-21T22:40:28.123Z" → "spike-2026-02-21T22-40-28Z" */
export function spikeBaseName(startedAt: string): string {
  return `spike-${startedAt.replace(/\.\d+Z$/, 'Z').replace(/:/g, '-')}`;
}

/** Writes `text` at `path` unless something is there; false when it is. */
async function placeNew(dir: string, path: string, text: string): Promise<boolean> {
  const tmp = join(dir, `.tmp-${process.pid}-${randomBytes(6).toString('hex')}`);
  await writeFile(tmp, text, { flag: 'wx' });
  try {
    await link(tmp, path);
    return true;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') return false;
    // No hard links here (some network and FAT file systems): rename, after checking the name is free.
    if (code === 'EPERM' || code === 'ENOTSUP' || code === 'EOPNOTSUPP' || code === 'ENOSYS') {
      if (
        await stat(path).then(
          () => true,
          () => false,
        )
      )
        return false;
      await rename(tmp, path);
      return true;
    }
    throw err;
  } finally {
    await unlink(tmp).catch(() => {});
  }
}

export async function saveSpikeReport(dir: string, report: SpikeReport): Promise<SavedSpike> {
  await mkdir(dir, { recursive: true });
  const markdown = spikeMarkdown(report);
  const json = `${JSON.stringify(spikeJson(report), null, 2)}\n`;
  const base = spikeBaseName(report.startedAt);
  for (let n = 1; n < 1000; n++) {
    const name = n === 1 ? base : `${base}-${n}`;
    const jsonPath = join(dir, `${name}.json`);
    const markdownPath = join(dir, `${name}.md`);
    if (!(await placeNew(dir, jsonPath, json))) continue;
    if (await placeNew(dir, markdownPath, markdown)) return { markdownPath, jsonPath };
    // A Markdown file of that name exists without its JSON: keep it, and take the next name.
    await unlink(jsonPath).catch(() => {});
  }
  throw new Error(`could not find a free report name in ${dir} (from ${base})`);
}
