/**
 * axe-core (npm `axe-core`) run inside a page or webview frame of the real VS Code: the serious and
 * critical accessibility violations it finds, one line each, for a test to assert there are none.
 */
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import type { Frame, Page } from 'playwright-core';

const require = createRequire(import.meta.url);

interface AxeViolation {
  id: string;
  impact: string | null;
  help: string;
  nodes: string[];
}

interface AxeGlobals {
  axe?: {
    run(
      context: unknown,
      options: unknown,
    ): Promise<{ violations: Array<{ id: string; impact: string | null; help: string; nodes: Array<{ target: unknown[] }> }> }>;
  };
  document: unknown;
}

/**
 * Loads axe into the frame (once) and runs it over `include` (a selector; the whole document when
 * absent). A webview's strict CSP blocks an injected <script> tag, so the script is evaluated
 * through the debugging protocol, which the CSP does not govern.
 */
export async function seriousViolations(target: Frame | Page, include?: string, skipRules: readonly string[] = []): Promise<string[]> {
  const loaded = await target.evaluate(() => typeof (globalThis as unknown as AxeGlobals).axe !== 'undefined');
  if (!loaded) await target.evaluate(await readFile(require.resolve('axe-core'), 'utf8'));
  const violations: AxeViolation[] = await target.evaluate(
    async ({ selector, skip }) => {
      const g = globalThis as unknown as AxeGlobals;
      if (!g.axe) throw new Error('axe-core did not load in the page');
      const rules = Object.fromEntries(skip.map((id) => [id, { enabled: false }]));
      const r = await g.axe.run(selector ? { include: [[selector]] } : g.document, { resultTypes: ['violations'], rules });
      return r.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.slice(0, 4).map((n) => n.target.join(' ')) }));
    },
    { selector: include ?? null, skip: [...skipRules] },
  );
  return violations.filter((v) => v.impact === 'serious' || v.impact === 'critical').map((v) => `${v.id} (${v.impact}): ${v.help} — ${v.nodes.join(', ')}`);
}
