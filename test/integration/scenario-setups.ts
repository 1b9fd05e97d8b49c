/**
 * What each extension-host scenario needs before VS Code starts: workspace settings, environment
 * and the fake NVML's first state. The tests for each live in suite/scenarios.ts under the same name.
 */
import type { FakeState } from '../helpers/fake-nvml.ts';

export interface SetupContext {
  fakeLibrary: string;
  fakeStatePath: string;
  workspace: string;
}

export interface ScenarioSetup {
  name: string;
  description: string;
  settings: (ctx: SetupContext) => Record<string, unknown>;
  env?: (ctx: SetupContext) => Record<string, string | undefined>;
  fakeState?: FakeState;
}

const list: ScenarioSetup[] = [
  {
    name: 'smoke',
    description: 'the test protocol itself',
    settings: () => ({}),
  },
];

export const scenarioSetups: Record<string, ScenarioSetup> = Object.fromEntries(list.map((s) => [s.name, s]));
