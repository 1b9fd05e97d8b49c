/**
 * The source registry, package.json and the CLI say the same thing: the `vramGuard.source` choices
 * are "auto" and every registered source, in order, each with its description; every source's
 * settings are declared as its entry says (the restricted ones restricted); the CLI's `--source`
 * takes exactly the setting's choices and every source's flags. A source added to one and not the
 * others fails here.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parseArgs, UsageError } from '../../../src/cli/args.ts';
import { GPU_OPTIONS_HELP, GPU_VALUE_FLAGS, gpuOptions } from '../../../src/cli/gpu-options.ts';
import { probeSource } from '../../../src/core/gpu/probe.ts';
import {
  GPU_SOURCES,
  probeOptionsFromSettings,
  SOURCE_PREFERENCES,
  sourceFlags,
  sourceSettings,
  sourceSettingsChanged,
} from '../../../src/core/gpu/source-registry.ts';
import { readSettings } from '../../../src/vscode/settings.ts';
import { repoRoot } from '../../helpers/fake-nvml.ts';

interface SettingSchema {
  type: string;
  default: unknown;
  minimum?: number;
  maximum?: number;
  enum?: string[];
  enumDescriptions?: string[];
}

const pkg = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as {
  contributes: { configuration: { properties: Record<string, SettingSchema> }[] | { properties: Record<string, SettingSchema> } };
  capabilities: { untrustedWorkspaces: { restrictedConfigurations: string[] } };
};
const sections = [pkg.contributes.configuration].flat();
const schema = (key: string): SettingSchema | undefined => sections.map((s) => s.properties[key]).find((p) => p !== undefined);
const sourceSetting = schema('vramGuard.source');
const choices = sourceSetting?.enum ?? [];

/** The arguments a source needs on the command line to be chosen (the replay's trace). */
function chooseArgs(choice: string): string[] {
  const entry = GPU_SOURCES.find((e) => e.kind === choice);
  const required = Object.values(entry?.flags ?? {}).filter((f) => f.required);
  return ['--source', choice, ...required.flatMap((f) => [`--${f.name}`, 'x'])];
}

const cli = (args: string[]) => gpuOptions(parseArgs(args, { booleans: [], values: GPU_VALUE_FLAGS }), {});

describe('GPU source registry', () => {
  it("package.json's vramGuard.source choices are auto and every registered source, each described as its entry says", () => {
    for (const known of ['auto', 'nvml', 'nvidia-smi', 'replay']) assert.ok(choices.includes(known), known);
    assert.deepEqual(choices, ['auto', ...GPU_SOURCES.map((e) => e.kind)]);
    assert.deepEqual([...SOURCE_PREFERENCES], choices);
    assert.equal(sourceSetting?.enumDescriptions?.length, choices.length);
    assert.deepEqual(
      sourceSetting?.enumDescriptions?.slice(1),
      GPU_SOURCES.map((e) => e.summary),
    );
  });

  it('declares every source setting in package.json with its type, default and range; the restricted ones, and only those, are restricted', () => {
    const restricted = new Set(pkg.capabilities.untrustedWorkspaces.restrictedConfigurations);
    const keys = sourceSettings().map(([key]) => key);
    for (const known of ['nvmlLibraryPath', 'nvidiaSmiPath', 'replayFile', 'replaySpeed']) assert.ok((keys as string[]).includes(known), known);
    for (const [key, setting] of sourceSettings()) {
      const declared = schema(`vramGuard.${key}`);
      assert.ok(declared, `vramGuard.${key} is not in package.json`);
      assert.equal(declared.type, setting.type === 'number' ? 'number' : 'string', key);
      assert.equal(declared.default, setting.default, key);
      if (setting.type === 'number') assert.deepEqual([declared.minimum, declared.maximum], [setting.minimum, setting.maximum], key);
      assert.equal(restricted.has(`vramGuard.${key}`), setting.restricted, `vramGuard.${key} restricted`);
    }
  });

  it("the CLI's --source takes every choice of the setting and refuses anything else, naming them all", () => {
    assert.ok(GPU_OPTIONS_HELP.includes(`--source ${choices.join('|')} `), GPU_OPTIONS_HELP);
    for (const choice of choices) assert.doesNotThrow(() => cli(chooseArgs(choice)), choice);
    assert.throws(
      () => cli(['--source', 'rocm-smi']),
      (err: unknown) => err instanceof UsageError && err.message === `--source must be one of ${choices.join(', ')}`,
    );
    assert.throws(
      () => cli(['--source', 'replay']),
      (err: unknown) => err instanceof UsageError && err.message === '--source replay needs --replay-file FILE',
    );
  });

  it("every source's flag is an option of the GPU commands, listed in their help; a number flag refuses what is not above 0", () => {
    const names = sourceFlags().map(([, f]) => f.name);
    for (const known of ['nvml-library', 'nvidia-smi', 'replay-file', 'replay-speed']) assert.ok(names.includes(known), known);
    for (const [, flag] of sourceFlags()) {
      assert.ok(GPU_VALUE_FLAGS.includes(flag.name), flag.name);
      assert.match(GPU_OPTIONS_HELP, new RegExp(`^ {2}--${flag.name} ${flag.value} +\\S`, 'm'));
    }
    assert.throws(() => cli(['--replay-speed', '0']), /--replay-speed must be a positive number \(got "0"\)/);
  });

  it("opens the settings' sources as set: an empty path is not set, the trace is resolved, and a change of any source setting re-probes", () => {
    const defaults = readSettings(() => undefined);
    const resolved: string[] = [];
    const options = probeOptionsFromSettings(defaults, (value, bundled) => {
      resolved.push(`${value}|${bundled}`);
      return `/ext/${bundled}`;
    });
    assert.deepEqual(options, {
      nvmlLibraryPath: undefined,
      nvidiaSmiPath: 'nvidia-smi',
      replayFile: '/ext/media/traces/a1000-4gb-speech-cascade.jsonl',
      replaySpeed: 1,
    });
    assert.deepEqual(resolved, ['|media/traces/a1000-4gb-speech-cascade.jsonl']);

    assert.equal(
      sourceSettingsChanged(
        defaults,
        readSettings(() => undefined),
      ),
      false,
    );
    const changed = { nvmlLibraryPath: '/opt/lib.so', nvidiaSmiPath: '/usr/bin/nvidia-smi', replayFile: 'a.jsonl', replaySpeed: 2, source: 'replay' };
    for (const [key, value] of Object.entries(changed)) {
      assert.equal(
        sourceSettingsChanged(
          defaults,
          readSettings((k) => (k === key ? value : undefined)),
        ),
        true,
        key,
      );
    }
    assert.equal(
      sourceSettingsChanged(
        defaults,
        readSettings((k) => (k === 'sampleIntervalMs' ? 500 : undefined)),
      ),
      false,
    );
  });

  it('a source named opens alone, and its failure says which source and why', async () => {
    const lines: string[] = [];
    const result = await probeSource({ preference: 'replay', replayFile: join(repoRoot, 'no-such-trace.jsonl'), log: (m) => lines.push(m) });
    assert.ok(!result.ok);
    assert.match(result.reason, /^no replay: cannot read the trace .*no-such-trace\.jsonl: ENOENT$/);
    assert.equal(lines.length, 1);
  });
});
