/**
 * The built CLI (dist/cli.cjs) on the Node.js versions people have: the oldest 18 and 20 it
 * supports (installed by `npm run setup:node-versions` into .node-versions/) and the pinned Node
 * the project runs on. Each runs the smoke suite against the fake NVML through koffi; a Node too
 * old to run it must refuse in one line with exit 64. Needs `npm run build` first.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { INSTALL_HINT, nodeBinary, TESTED_NODES } from '../../scripts/node-versions.ts';
import { buildFakeNvml, FakeNvmlState, GiB, MiB, repoRoot, type FakeState } from '../helpers/fake-nvml.ts';
import { LLAMA_32_3B, writeGguf } from '../helpers/gguf-fixtures.ts';
import { runCli, type CliRun } from '../helpers/cli-run.ts';

const cli = join(repoRoot, 'dist', 'cli.cjs');
const pinnedNode = join(repoRoot, 'node_modules', 'node', 'bin', 'node');

/** The built CLI run with the Node executable `node`. */
function runCliOn(node: string, args: string[], env: NodeJS.ProcessEnv, interruptWhen?: (stdout: string) => boolean): Promise<CliRun> {
  return runCli(args, env, { node, interruptWhen, timeoutMs: 15_000 });
}

/** A 4 GiB laptop GPU with one process, as the fake NVML reports it. */
const a1000: FakeState = {
  driver: '550.54.14',
  devices: [
    {
      name: 'NVIDIA RTX A1000 Laptop GPU',
      uuid: 'GPU-a1000',
      total: 4 * GiB,
      used: 1024 * MiB,
      reserved: 94 * MiB,
      utilGpu: 12,
      utilMem: 5,
      temp: 48,
      powerMw: 9_000,
      persistence: 1,
      processes: [{ pid: 2001, used: 930 * MiB, name: '/usr/bin/ollama' }],
    },
  ],
};

function requireNode(binary: string, what: string): void {
  assert.ok(existsSync(binary), `${what} is not installed at ${binary}: run "${INSTALL_HINT}" (it installs the npm "node" package into .node-versions/)`);
}

const supported = [
  ...TESTED_NODES.filter((n) => n.supported).map((n) => ({ label: `Node ${n.version}`, binary: nodeBinary(n) })),
  { label: 'the pinned Node', binary: pinnedNode },
];

for (const node of supported) {
  describe(`vram-guard on ${node.label}`, () => {
    let lib: string;
    before(async () => {
      assert.ok(existsSync(cli), `${cli} is missing: run "npm run build" first`);
      requireNode(node.binary, node.label);
      lib = await buildFakeNvml();
    });

    it('runs on the version it names', async () => {
      const version = await new Promise<string>((resolve, reject) => {
        const child = spawn(node.binary, ['--version'], { stdio: ['ignore', 'pipe', 'inherit'] });
        let out = '';
        child.stdout.on('data', (d: Buffer) => (out += d.toString()));
        child.on('error', reject);
        child.on('close', () => resolve(out.trim()));
      });
      const expected = TESTED_NODES.find((n) => nodeBinary(n) === node.binary)?.version;
      if (expected) assert.equal(version, `v${expected}`);
      else assert.match(version, /^v\d+\./);
    });

    it('--help lists the commands', async () => {
      const r = await runCliOn(node.binary, ['--help'], {});
      assert.equal(r.code, 0, r.stderr);
      for (const command of ['status', 'watch', 'preflight', 'fallback', 'history', 'ledger']) assert.match(r.stdout, new RegExp(`^  ${command} `, 'm'));
    });

    it('status --json reads the GPU through koffi and the fake NVML', async () => {
      const fake = await FakeNvmlState.create(a1000);
      const r = await runCliOn(node.binary, ['status', '--json', '--nvml-library', lib], { FAKE_NVML_STATE: fake.path });
      assert.equal(r.code, 0, r.stderr);
      const json = JSON.parse(r.stdout);
      assert.equal(json.source, 'nvml');
      assert.equal(json.driverVersion, '550.54.14');
      assert.deepEqual(json.devices[0].memory, { total: 4 * GiB, used: 1024 * MiB, free: 4 * GiB - 1024 * MiB - 94 * MiB, reserved: 94 * MiB });
      assert.deepEqual(json.devices[0].processes, [{ pid: 2001, name: '/usr/bin/ollama', usedBytes: 930 * MiB }]);
    });

    it('preflight --need passes what fits and fails what does not', async () => {
      const fake = await FakeNvmlState.create(a1000);
      const env = { FAKE_NVML_STATE: fake.path, VRAM_GUARD_NVML_LIBRARY: lib };
      const fits = await runCliOn(node.binary, ['preflight', '--need', '1GiB', '--json'], env);
      assert.equal(fits.code, 0, fits.stderr);
      assert.equal(JSON.parse(fits.stdout).verdict, 'pass');
      const tooBig = await runCliOn(node.binary, ['preflight', '--need', '6GiB'], env);
      assert.equal(tooBig.code, 1, tooBig.stderr);
      assert.match(tooBig.stdout, /❌/);
    });

    it('preflight --model reads a GGUF file', async () => {
      const fake = await FakeNvmlState.create({ ...a1000, devices: [{ ...a1000.devices[0]!, total: 8 * GiB }] });
      const model = await writeGguf('llama-3.2-3b-instruct-q4_k_m', LLAMA_32_3B, { sparse: true });
      const r = await runCliOn(node.binary, ['preflight', '--model', model, '--json', '--nvml-library', lib], { FAKE_NVML_STATE: fake.path });
      assert.equal(r.code, 0, r.stderr + r.stdout);
      const json = JSON.parse(r.stdout);
      assert.equal(json.need.from, 'estimate', r.stdout);
      assert.match(json.model.label, /^Llama 3\.2 3B Instruct \(llama\)/);
      assert.ok(json.model.estimate.parts.weightsBytes > 1.5 * GiB, r.stdout);
    });

    it("takes the shared files' OS lock through koffi: a measured-footprints file that is not JSON is set aside under it", async () => {
      const fake = await FakeNvmlState.create({ ...a1000, devices: [{ ...a1000.devices[0]!, total: 8 * GiB }] });
      const model = await writeGguf('llama-3.2-3b-instruct-q4_k_m', LLAMA_32_3B, { sparse: true });
      const state = await mkdtemp(join(tmpdir(), 'vram-guard-cli-node-state-'));
      await writeFile(join(state, 'measured-footprints.json'), '{"version": 1, "footprints": [');
      const r = await runCliOn(node.binary, ['preflight', '--model', model, '--json', '--nvml-library', lib], {
        FAKE_NVML_STATE: fake.path,
        VRAM_GUARD_STATE_DIR: state,
      });
      assert.equal(r.code, 0, r.stderr + r.stdout);
      assert.match(r.stderr, /measured-footprints\.json was set aside as \S+\.corrupt-\d+ because it is not JSON/);
      assert.deepEqual((await readdir(state)).filter((f) => f.includes('.corrupt-')).length, 1);
    });

    it('watch prints samples until interrupted', async () => {
      const fake = await FakeNvmlState.create(a1000);
      const r = await runCliOn(
        node.binary,
        ['watch', '--json', '--interval', '100', '--fixed-rate', '--nvml-library', lib],
        { FAKE_NVML_STATE: fake.path },
        (out) => out.trim().split('\n').length >= 3,
      );
      assert.equal(r.code, 0, r.stderr);
      const samples = r.stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l))
        .filter((l) => l.type === 'sample');
      assert.ok(samples.length >= 3, r.stdout);
      assert.equal(samples[0].devices[0].memory.used, 1024 * MiB);
    });
  });
}

for (const node of TESTED_NODES.filter((n) => !n.supported)) {
  describe(`vram-guard on Node ${node.version} (too old)`, () => {
    it('says in one line which Node it needs and exits 64', async () => {
      requireNode(nodeBinary(node), `Node ${node.version}`);
      const r = await runCliOn(nodeBinary(node), ['status', '--json'], {});
      assert.equal(r.code, 64);
      assert.equal(r.stdout, '');
      assert.match(
        r.stderr,
        new RegExp(
          `^vram-guard needs Node\\.js 18\\.19 or later \\(20\\.5 or later on the 20 line\\); this is Node\\.js ${node.version.replace(/\./g, '\\.')} \\(.*\\)\\.\\n$`,
        ),
      );
    });
  });
}

describe('package.json', () => {
  it('engines.node says what the CLI checks for', async () => {
    const pkg = JSON.parse(await readFile(join(repoRoot, 'package.json'), 'utf8'));
    assert.equal(pkg.engines.node, '^18.19.0 || >=20.5.0');
  });
});
