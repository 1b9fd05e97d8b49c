/**
 * src/core has no import circle: following the relative imports (type-only ones included, since a
 * circle of types still ties the files together) from any file never leads back to it. Its rooms
 * (gpu/, watch/, servers/, checks/, …) form floors: no room imports one that imports it back, so no
 * import runs up a floor.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, normalize, relative, sep } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const IMPORT = /(?:from|import)\s*\(?\s*['"](\.{1,2}\/[^'"]+)['"]/g;

function tsFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && e.name.endsWith('.ts'))
    .map((e) => join(e.parentPath, e.name));
}

/** Each file's relative imports, as absolute paths. */
function importGraph(dir: string): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const file of tsFiles(dir)) {
    const text = readFileSync(file, 'utf8');
    graph.set(
      file,
      [...text.matchAll(IMPORT)].map((m) => normalize(join(dirname(file), m[1] as string))),
    );
  }
  return graph;
}

/** The circles of a graph: strongly connected groups of more than one file, or a file importing itself. */
function circles(graph: Map<string, string[]>): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  let next = 0;
  const visit = (v: string): void => {
    index.set(v, next);
    low.set(v, next++);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!graph.has(w)) continue;
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v) as number, low.get(w) as number));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v) as number, index.get(w) as number));
    }
    if (low.get(v) !== index.get(v)) return;
    const group: string[] = [];
    let w: string;
    do {
      w = stack.pop() as string;
      onStack.delete(w);
      group.push(w);
    } while (w !== v);
    if (group.length > 1 || graph.get(v)?.includes(v)) found.push(group);
  };
  for (const v of graph.keys()) if (!index.has(v)) visit(v);
  return found;
}

/** The same graph between rooms: a file at src/core's root is a room of its own. */
function roomGraph(dir: string, files: Map<string, string[]>): Map<string, string[]> {
  const room = (file: string) => relative(dir, file).split(sep)[0] as string;
  const rooms = new Map<string, Set<string>>();
  for (const [file, imports] of files) {
    const from = room(file);
    const to = rooms.get(from) ?? new Set<string>();
    for (const target of imports) if (room(target) !== from && files.has(target)) to.add(room(target));
    rooms.set(from, to);
  }
  return new Map([...rooms].map(([r, to]) => [r, [...to]]));
}

describe('import graph', () => {
  it('finds a circle of three files, and none once one import goes', () => {
    const graph = new Map([
      ['a.ts', ['b.ts']],
      ['b.ts', ['c.ts']],
      ['c.ts', ['a.ts']],
      ['d.ts', ['a.ts']],
    ]);
    assert.deepEqual(
      circles(graph).map((c) => c.sort()),
      [['a.ts', 'b.ts', 'c.ts']],
    );
    graph.set('c.ts', []);
    assert.deepEqual(circles(graph), []);
  });

  it('src/core has no import circle', () => {
    const graph = importGraph(join(repoRoot, 'src', 'core'));
    assert.ok(graph.size > 100, `read ${graph.size} files`);
    const named = circles(graph).map((c) => c.map((f) => relative(repoRoot, f)).sort());
    assert.deepEqual(named, []);
  });

  it("src/core's rooms have no circle: no import runs up a floor", () => {
    const dir = join(repoRoot, 'src', 'core');
    const rooms = roomGraph(dir, importGraph(dir));
    assert.ok(rooms.has('servers') && rooms.has('checks'), `rooms: ${[...rooms.keys()].join(', ')}`);
    assert.deepEqual(circles(rooms), []);
  });
});
