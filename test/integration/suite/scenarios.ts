/**
 * The scenarios the extension is tested in. Each needs its own VS Code (its own settings and
 * environment, set up by the runner before the extension activates), so each is one run.
 */
/// <reference types="mocha" />
import * as assert from 'node:assert/strict';

export type Scenario = (measurements: Record<string, number | string>) => void;

export const scenarios: Record<string, Scenario> = {
  smoke: () => {
    describe('protocol', () => {
      it('runs inside the extension host', async () => {
        const vscode = await import('vscode');
        assert.ok(vscode.version.length > 0);
      });
    });
  },
};
