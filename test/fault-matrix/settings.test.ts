/**
 * Fault matrix: settings that could never work, and a workspace that is not trusted. The settings
 * readers are pure (handed a getter): what they return is what the extension shows — each problem
 * becomes a line of the warning notification and the log, and the value in force is the default.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { readFallbackSettings } from '../../src/core/fallback/config.ts';
import { GiB, MiB, parseSize, type SizeSpec } from '../../src/core/units.ts';
import { DEFAULT_THRESHOLDS, parseThresholds, resolveThresholds } from '../../src/core/watch/thresholds.ts';
import { ignoredWorkspaceSettings, readSettings, RESTRICTED_SETTINGS, trustAwareGetter, type SettingInspection } from '../../src/vscode/settings.ts';
import { repoRoot } from '../helpers/fake-nvml.ts';

const settings = (values: Record<string, unknown>) => readSettings((k) => values[k]);
const chain = (trigger: unknown) => readFallbackSettings((k) => (k === 'fallbackChain' ? [{ action: 'unloadModel', target: 'ollama', trigger }] : undefined));

test('threshold "0%" → refused: it would always fire and could never be left; the defaults are used', () => {
  const s = settings({ thresholds: { warning: '0%', critical: '90%', emergency: '95%' } });
  assert.deepEqual(s.problems, [
    'vramGuard.thresholds: warning: "0%" is met by every reading, so it would always fire and could never be left: use a value above 0%. Using the defaults, warning 80%, critical 90%, emergency 95%.',
  ]);
  assert.deepEqual(s.thresholds, DEFAULT_THRESHOLDS);
});

test('threshold "0MiB" → refused like "0%"', () => {
  const s = settings({ thresholds: { warning: '0MiB', critical: '7GiB', emergency: '7.5GiB' } });
  assert.match(s.problems[0] ?? '', /^vramGuard\.thresholds: warning: "0 MiB" is met by every reading, so it would always fire/);
  assert.deepEqual(s.thresholds, DEFAULT_THRESHOLDS);
});

test('threshold "100%" or more → refused: it would never fire; the defaults are used', () => {
  const s = settings({ thresholds: { warning: '80%', critical: '90%', emergency: '100%' } });
  assert.deepEqual(s.problems, [
    'vramGuard.thresholds: emergency: "100%" is never reached (used memory stays below the total), so it would never fire: use a value below 100%. Using the defaults, warning 80%, critical 90%, emergency 95%.',
  ]);
  const over = settings({ thresholds: { warning: '80%', critical: '90%', emergency: '120%' } });
  assert.match(over.problems[0] ?? '', /emergency: "120%" is more than 100%/);
  assert.deepEqual(over.thresholds, DEFAULT_THRESHOLDS);
});

test('threshold size equal to the GPU total → refused on that GPU: it would never be reached; the defaults are used there', () => {
  const spec = parseThresholds({ warning: '6GiB', critical: '7GiB', emergency: '8GiB' }, '2%').spec;
  const r = resolveThresholds(spec, 8 * GiB);
  assert.equal(
    r.problem,
    "vramGuard.thresholds: emergency 8192 MiB is equal to this GPU's total of 8192 MiB (used memory never reaches it). Using the defaults (80% / 90% / 95%) for it.",
  );
  assert.equal(r.thresholds.emergency, Math.round(0.95 * 8 * GiB));
});

test('hysteresis as wide as the gap between two thresholds → refused naming the smallest gap; the default is used', () => {
  const s = settings({ thresholds: { warning: '80%', critical: '85%', emergency: '95%' }, hysteresis: '5%' });
  assert.deepEqual(s.problems, [
    'vramGuard.hysteresis: the hysteresis 5% must be smaller than the gaps between the thresholds (the smallest is 5%, from warning to critical), or a level could never be left. Using the default, 2%.',
  ]);
  assert.deepEqual(s.thresholds.hysteresis, { kind: 'percent', percent: 2 });
  const below = settings({ thresholds: { warning: '3GiB', critical: '6GiB', emergency: '7GiB' }, hysteresis: '1GiB' });
  assert.match(
    below.problems[0] ?? '',
    /the hysteresis 1024 MiB must be smaller than the gaps between the thresholds \(the smallest is 1024 MiB, from critical to emergency\)/,
  );
});

test('thresholds closer than the default hysteresis → the default halved to fit the smallest gap, no warning about a setting never made', () => {
  const s = settings({ thresholds: { warning: '94%', critical: '95%', emergency: '96%' } });
  assert.deepEqual(s.problems, []);
  assert.deepEqual(s.thresholds.hysteresis, { kind: 'percent', percent: 0.5 });
  const chosen = settings({ thresholds: { warning: '94%', critical: '95%', emergency: '96%' }, hysteresis: '2%' });
  assert.match(
    chosen.problems[0] ?? '',
    /^vramGuard\.hysteresis: the hysteresis 2% must be smaller than the gaps between the thresholds \(the smallest is 1%, from warning to critical\)/,
    'a hysteresis the user chose is refused',
  );
  assert.deepEqual(chosen.thresholds.hysteresis, { kind: 'percent', percent: 0.5 }, 'and the default, halved, is used');
});

test('hysteresis wider than a gap once sizes and percentages mix → shrunk to half the gap on that GPU, said for it', () => {
  const spec = { ...parseThresholds({ warning: '3GiB', critical: '3200MiB', emergency: '95%' }, '512MiB').spec };
  assert.deepEqual(spec.hysteresis, parseSize('512MiB') as SizeSpec);
  const r = resolveThresholds(spec, 4 * GiB);
  assert.equal(
    r.problem,
    'vramGuard.thresholds: on this GPU (4096 MiB) the hysteresis 512 MiB is not smaller than the smallest gap between the thresholds (128 MiB). Using 64 MiB for it.',
  );
  assert.equal(r.thresholds.hysteresis, 64 * MiB);
  assert.equal(r.thresholds.critical, 3200 * MiB, 'the thresholds themselves are kept');
});

test('fallback trigger "0%" → the step refused for the same reason as a threshold', () => {
  const f = chain('0%');
  assert.deepEqual(f.problems, [
    'vramGuard.fallbackChain[0]: trigger "0%" is met by every reading, so it would always fire and could never be left: use a value above 0%. This step is left out.',
  ]);
  assert.deepEqual(f.steps, []);
  assert.match(chain('0GiB').problems[0] ?? '', /trigger "0 MiB" is met by every reading/);
  assert.match(chain('ok').problems[0] ?? '', /the trigger "ok" would fire always/);
});

test('fallback trigger "100%" or more → the step refused: it would never fire', () => {
  assert.deepEqual(chain('100%').problems, [
    'vramGuard.fallbackChain[0]: trigger "100%" is never reached (used memory stays below the total), so it would never fire: use a value below 100%. This step is left out.',
  ]);
  assert.match(chain('150%').problems[0] ?? '', /trigger "150%" is neither a level .* it is more than 100%, so it would never fire/);
  assert.equal(chain('95%').problems.length, 0, 'a trigger that can work is accepted');
});

test("untrusted workspace sets the GPU source, replay file, thresholds or hysteresis → ignored, the user's settings apply", () => {
  // What VS Code's inspect() says: the user chose NVML and 85 % warnings; the workspace wants a replayed fake GPU.
  const scopes: Record<string, SettingInspection> = {
    source: { defaultValue: 'auto', globalValue: 'nvml', workspaceValue: 'replay' },
    replayFile: { defaultValue: '', workspaceFolderValue: 'fake-gpu.jsonl' },
    thresholds: {
      defaultValue: { warning: '80%', critical: '90%', emergency: '95%' },
      globalValue: { warning: '85%', critical: '90%', emergency: '95%' },
      workspaceValue: { warning: '98%', critical: '99%', emergency: '99.5%' },
    },
    hysteresis: { defaultValue: '2%', workspaceValue: '0.1%' },
    sampleIntervalMs: { defaultValue: 1000, workspaceValue: 500 },
  };
  const merged = (k: string) => scopes[k]?.workspaceFolderValue ?? scopes[k]?.workspaceValue ?? scopes[k]?.globalValue ?? scopes[k]?.defaultValue;
  const untrusted = readSettings(trustAwareGetter(merged, (k) => scopes[k], false));
  assert.equal(untrusted.source, 'nvml');
  assert.equal(untrusted.replayFile, '');
  assert.deepEqual(untrusted.thresholds.warning, { kind: 'percent', percent: 85 });
  assert.deepEqual(untrusted.thresholds.hysteresis, { kind: 'percent', percent: 2 });
  assert.equal(untrusted.sampleIntervalMs, 500, 'a setting that is not restricted still comes from the workspace');
  assert.deepEqual(
    ignoredWorkspaceSettings((k) => scopes[k], false),
    ['vramGuard.source', 'vramGuard.replayFile', 'vramGuard.thresholds', 'vramGuard.hysteresis'],
  );
  const trusted = readSettings(trustAwareGetter(merged, (k) => scopes[k], true));
  assert.equal(trusted.source, 'replay');
  assert.deepEqual(trusted.thresholds.warning, { kind: 'percent', percent: 98 });
  // VS Code applies the same rule to what package.json lists.
  const pkg = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as {
    capabilities: { untrustedWorkspaces: { restrictedConfigurations: string[] } };
  };
  assert.deepEqual([...pkg.capabilities.untrustedWorkspaces.restrictedConfigurations].sort(), RESTRICTED_SETTINGS.map((k) => `vramGuard.${k}`).sort());
});
