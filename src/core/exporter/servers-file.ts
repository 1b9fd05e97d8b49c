/**
 * The running tasks and model servers VRAM Guard knows of, as files in its state folder
 * (`servers/<pid>.json`, one per VS Code window, named by its extension host's PID): each window
 * writes its own whenever its server registry changes, and a `vram-guard exporter` running as a
 * service reads them all to attribute each GPU process to its task or server. The file is checked where it enters: bounded in size and count, every field
 * validated, server URLs only on this machine, and ignored once the window that wrote it is gone.
 */
import { readdir, readFile, rename, stat, writeFile, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { isAlive } from '../servers/process-tree.ts';
import type { Owner } from '../servers/server-registry.ts';
import { SERVER_KINDS } from '../servers/task-definition.ts';
import { isLoopbackHost } from './listen-address.ts';

export const SERVERS_DIR_NAME = 'servers';
export const MAX_SERVERS_FILES = 64;
export const SERVERS_FILE_FORMAT = 'vram-guard-servers';
export const MAX_SERVERS_FILE_BYTES = 256 * 1024;
export const MAX_OWNERS = 256;
const MAX_NAME = 200;

export interface ServersFile {
  format: typeof SERVERS_FILE_FORMAT;
  version: 1;
  /** The process that wrote it (the extension host); its servers are stopped when it ends. */
  writerPid: number;
  updatedAt: string;
  owners: Owner[];
}

export interface ServersFileReading {
  owners: Owner[];
  /** One sentence per thing that was wrong or left out. */
  problems: string[];
}

/** The folder of servers files in a state folder. */
export function serversDirPath(stateDir: string): string {
  return join(stateDir, SERVERS_DIR_NAME);
}

/** The file one writer (a window's extension host) keeps in the servers folder. */
export function serversFilePath(serversDir: string, writerPid: number = process.pid): string {
  return join(serversDir, `${writerPid}.json`);
}

/**
 * Every window's servers, from the servers folder: files of windows that have closed are
 * ignored; a missing folder means none. At most MAX_SERVERS_FILES files are read.
 */
export async function readServersDir(dir: string, alive: (pid: number) => boolean = isAlive): Promise<ServersFileReading> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { owners: [], problems: [] };
    return { owners: [], problems: [`cannot read the servers folder ${dir}: ${(err as Error).message}`] };
  }
  const files = names.filter((n) => /^\d+\.json$/.test(n)).sort();
  const problems: string[] = [];
  if (files.length > MAX_SERVERS_FILES) problems.push(`${dir} holds ${files.length} servers files; only ${MAX_SERVERS_FILES} are read`);
  const owners: Owner[] = [];
  for (const name of files.slice(0, MAX_SERVERS_FILES)) {
    const reading = await readServersFile(join(dir, name), alive);
    owners.push(...reading.owners.slice(0, Math.max(0, MAX_OWNERS - owners.length)));
    problems.push(...reading.problems);
  }
  return { owners, problems };
}

/** Writes the owners atomically (a temp file renamed over the old one). */
export async function writeServersFile(path: string, owners: readonly Owner[], writerPid: number = process.pid, now: Date = new Date()): Promise<void> {
  const file: ServersFile = {
    format: SERVERS_FILE_FORMAT,
    version: 1,
    writerPid,
    updatedAt: now.toISOString(),
    owners: owners
      .slice(0, MAX_OWNERS)
      .map((o) => ({ name: o.name, kind: o.kind, rootPid: o.rootPid, baseUrl: o.baseUrl, gpu: o.gpu, expectedBytes: o.expectedBytes ?? null })),
  };
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, `${JSON.stringify(file, null, 1)}\n`);
  await rename(tmp, path);
}

/** Removes the file (the extension on shutdown); a missing file is fine. */
export async function removeServersFile(path: string): Promise<void> {
  await unlink(path).catch(() => {});
}

/**
 * Reads the owners. A missing file means none; a file that is too big, not JSON or of another
 * format yields no owners and a problem; single bad entries are left out with a problem each.
 */
export async function readServersFile(path: string, alive: (pid: number) => boolean = isAlive): Promise<ServersFileReading> {
  let size: number;
  try {
    size = (await stat(path)).size;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { owners: [], problems: [] };
    return { owners: [], problems: [`cannot read ${path}: ${(err as Error).message}`] };
  }
  if (size > MAX_SERVERS_FILE_BYTES)
    return { owners: [], problems: [`${path} is ${size} bytes, more than the ${MAX_SERVERS_FILE_BYTES} a servers file may hold; ignored`] };
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    return { owners: [], problems: [`cannot read ${path}: ${(err as Error).message}`] };
  }
  if (text.length > MAX_SERVERS_FILE_BYTES) return { owners: [], problems: [`${path} grew past ${MAX_SERVERS_FILE_BYTES} bytes while being read; ignored`] };
  return parseServersFile(text, path, alive);
}

export function parseServersFile(text: string, path: string, alive: (pid: number) => boolean = isAlive): ServersFileReading {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (err) {
    return { owners: [], problems: [`${path} is not JSON (${(err as Error).message}): starts with ${JSON.stringify(text.slice(0, 80))}; ignored`] };
  }
  if (!isRecord(data) || data.format !== SERVERS_FILE_FORMAT || data.version !== 1) {
    return { owners: [], problems: [`${path} is not a VRAM Guard servers file (format "${SERVERS_FILE_FORMAT}", version 1); ignored`] };
  }
  const writerPid = data.writerPid;
  if (!isPid(writerPid)) return { owners: [], problems: [`${path}: writerPid must be a process id, got ${JSON.stringify(writerPid)}; ignored`] };
  if (!alive(writerPid)) return { owners: [], problems: [] }; // the window that wrote it has closed, and stopped its servers
  const list = data.owners;
  if (!Array.isArray(list)) return { owners: [], problems: [`${path}: owners must be a list; ignored`] };
  const problems: string[] = [];
  if (list.length > MAX_OWNERS) problems.push(`${path} lists ${list.length} servers; only the first ${MAX_OWNERS} are read`);
  const owners: Owner[] = [];
  list.slice(0, MAX_OWNERS).forEach((raw, i) => {
    const owner = parseOwner(raw);
    if (typeof owner === 'string') problems.push(`${path}: server ${i + 1} left out: ${owner}`);
    else owners.push(owner);
  });
  return { owners, problems };
}

function parseOwner(raw: unknown): Owner | string {
  if (!isRecord(raw)) return 'not an object';
  const { name, kind, rootPid, baseUrl, gpu, expectedBytes } = raw;
  if (typeof name !== 'string' || !name.trim() || name.length > MAX_NAME) return `name must be a non-empty string of at most ${MAX_NAME} characters`;
  if (kind !== 'task' && !(SERVER_KINDS as readonly unknown[]).includes(kind)) return `"${name}": kind must be "task" or one of ${SERVER_KINDS.join(', ')}`;
  if (!isPid(rootPid)) return `"${name}": rootPid must be a process id`;
  if (gpu !== null && gpu !== undefined && !(Number.isInteger(gpu) && (gpu as number) >= 0 && (gpu as number) < 1024))
    return `"${name}": gpu must be a GPU index or null`;
  if (expectedBytes !== null && expectedBytes !== undefined && !(typeof expectedBytes === 'number' && Number.isFinite(expectedBytes) && expectedBytes >= 0))
    return `"${name}": expectedBytes must be a number of bytes or null`;
  let url: string | null = null;
  if (baseUrl !== null && baseUrl !== undefined) {
    if (typeof baseUrl !== 'string' || baseUrl.length > 2048) return `"${name}": baseUrl must be a URL or null`;
    let parsed: URL;
    try {
      parsed = new URL(baseUrl);
    } catch {
      return `"${name}": baseUrl ${JSON.stringify(baseUrl.slice(0, 100))} is not a URL`;
    }
    const host = parsed.hostname.replace(/^\[|\]$/g, '');
    if ((parsed.protocol !== 'http:' && parsed.protocol !== 'https:') || !isLoopbackHost(host))
      return `"${name}": baseUrl ${parsed.origin} is not on this machine; the exporter only asks servers on 127.0.0.1`;
    url = parsed.origin;
  }
  return {
    name,
    kind: kind as Owner['kind'],
    rootPid: rootPid as number,
    baseUrl: url,
    gpu: (gpu as number | null | undefined) ?? null,
    expectedBytes: (expectedBytes as number | null | undefined) ?? null,
  };
}

const isRecord = (v: unknown): v is Record<string, unknown> => !!v && typeof v === 'object' && !Array.isArray(v);
const isPid = (v: unknown): v is number => Number.isInteger(v) && (v as number) > 0 && (v as number) < 2 ** 31;
