/**
 * The registry of model-server kinds is whole: each entry is its own file, named by its id, with
 * every part a kind has (defaults, adapter, processes, fallback, sizing, spike) consistent with its
 * id; and the kinds are exactly those package.json lets a task definition's "server" name, in the
 * same order.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { findingsIn, kindRules } from '../../../scripts/lint-vocabulary.ts';
import { SERVER_KIND_ENTRIES, SERVER_KINDS, kindsNamedBy, serverKindEntry } from '../../../src/core/servers/kinds/index.ts';
import { PROCESS_KINDS } from '../../../src/core/servers/recognition/kinds.ts';
import { validateTaskDefinition } from '../../../src/core/servers/task-definition.ts';

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const kindsDir = join(repoRoot, 'src', 'core', 'servers', 'kinds');
const NOT_KINDS = ['index.ts', 'kind-entry.ts', 'server-kind.ts'];

interface TaskDefinitionSchema {
  type: string;
  properties: { server?: { enum?: string[] } };
}

describe('the registry of server kinds', () => {
  it('is exactly the kinds a task definition\'s "server" may name in package.json, in its order', () => {
    const pkg = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { contributes: { taskDefinitions: TaskDefinitionSchema[] } };
    const task = pkg.contributes.taskDefinitions.find((t) => t.type === 'vram-guard');
    assert.deepEqual([...SERVER_KINDS], task?.properties.server?.enum);
  });

  it('has one file per kind, named by its id, and every file of the folder is in it', () => {
    const files = readdirSync(kindsDir).filter((f) => f.endsWith('.ts') && !NOT_KINDS.includes(f));
    assert.deepEqual(files.map((f) => f.slice(0, -3)).sort(), [...SERVER_KINDS].sort());
    for (const kind of SERVER_KINDS) {
      const text = readFileSync(join(kindsDir, `${kind}.ts`), 'utf8');
      assert.match(text, new RegExp(`interface ServerKinds \\{\\s*'?${kind}'?: true;`), `${kind}.ts declares its id`);
    }
  });

  for (const entry of SERVER_KIND_ENTRIES) {
    it(`${entry.id}: its entry is whole and speaks of itself`, () => {
      assert.equal(serverKindEntry(entry.id), entry);
      assert.ok(entry.label.trim(), 'a label for people');
      const d = entry.defaults;
      assert.ok(d.command === null || (d.command.length > 0 && d.command.every((a) => a.length > 0)), 'a default command, or none');
      assert.ok(d.port === null || (Number.isInteger(d.port) && d.port > 0 && d.port < 65536), 'a port, or none');
      assert.ok(d.healthPath === null || d.healthPath.startsWith('/'), 'a health path, or none');
      assert.ok(d.healthPath === null || d.port !== null, 'a health path needs a port');
      if (entry.adapter) assert.equal(entry.adapter.kind, entry.id, 'its adapter answers for it');
      const serving = entry.processes.filter((p) => p.serverKind === entry.id);
      assert.equal(serving.length > 0, entry.adapter !== null, 'a kind with an API is recognised in /proc, as itself');
      for (const p of entry.processes) {
        assert.ok(p.serverKind === entry.id || p.serverKind === null, `${p.id} is this kind or no server`);
        assert.ok(PROCESS_KINDS.includes(p), `${p.id} is walked by the recogniser`);
      }
      for (const p of serving) assert.equal(p.id, entry.id, "the process kind of a server goes by the server kind's id (the outside steps find it by it)");
      if (entry.fallback.unloadOutside) assert.ok(entry.fallback.unloadOutside.from.trim(), 'says what it unloads from');
      if (entry.sizing?.readsArgs) {
        assert.ok(entry.sizing.namesModel && entry.sizing.checkArgs, 'a kind sized from its arguments checks them and finds the model in them');
      } else if (entry.sizing) assert.ok(entry.sizing.settings, 'a kind sized from elsewhere says where its settings are');
      if (entry.spike) {
        const request = entry.spike.request({ model: 'm', prompt: 'p' });
        assert.ok(request.path.startsWith('/'), 'a spike request to a path');
      }
      if (entry.family) assert.ok(kindsNamedBy(entry.family).includes(entry.id), `"${entry.family}" names it`);
      assert.deepEqual(kindsNamedBy(entry.id), [entry.id], 'a step target that is its id names it');
    });

    it(`${entry.id}: a task naming only the kind gets its defaults`, () => {
      const r = validateTaskDefinition({ type: 'vram-guard', server: entry.id, command: entry.defaults.command ?? ['my-server'], needs: '1GiB' }, 't');
      assert.ok(r.ok, r.ok ? '' : r.problems.join(' '));
      assert.equal(r.task.server, entry.id);
      assert.equal(r.task.port, entry.defaults.port);
      assert.equal(r.task.fallback.contextArg, entry.defaults.contextArg);
      assert.deepEqual(r.task.fallback.cpuArgs, entry.defaults.cpuArgs);
      assert.deepEqual(r.task.fallback.cpuEnv, entry.defaults.cpuEnv);
      assert.equal(r.task.healthUrl, entry.defaults.healthPath && `http://127.0.0.1:${entry.defaults.port}${entry.defaults.healthPath}`);
    });
  }

  it("no file in src/ names a kind's id outside its kind's file (the vocabulary check)", () => {
    const rules = kindRules([...SERVER_KINDS]);
    const findings = readdirSync(join(repoRoot, 'src'), { recursive: true, withFileTypes: true })
      .filter((e) => e.isFile() && e.name.endsWith('.ts'))
      .map((e) => join(e.parentPath, e.name))
      .flatMap((file) => findingsIn(file.slice(repoRoot.length + 1), readFileSync(file, 'utf8'), rules))
      .map((f) => `${f.file}:${f.line}: ${f.text}`);
    assert.deepEqual(findings, []);
  });
});
