/**
 * The dry run's plan in the fallback chain's panel: under the time it was asked, one row per GPU and
 * step with what would happen (panels-model.ts words it). Built with DOM calls only.
 */
import type { DryRunPlan } from '../src/protocol.ts';
import { dryRunView } from './panels-model.ts';

function el(tag: string, attrs: Record<string, string>, text?: string, ...children: HTMLElement[]): HTMLElement {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  e.append(...children);
  return e;
}

export function dryRunSection(plan: DryRunPlan): HTMLElement {
  const view = dryRunView(plan);
  const head = el('tr', {}, undefined, ...['GPU', 'Step', 'Mode', 'Result', 'What would happen'].map((t) => el('th', {}, t)));
  const rows = view.rows.map((r) =>
    el(
      'tr',
      { class: `result-${r.result}` },
      undefined,
      el('td', {}, r.gpu),
      el('td', {}, r.step),
      el('td', {}, r.mode),
      el('td', {}, undefined, el('span', { class: 'pill' }, r.result)),
      el('td', {}, r.text),
    ),
  );
  const body =
    view.empty === null
      ? el('table', {}, undefined, el('thead', {}, undefined, head), el('tbody', {}, undefined, ...rows))
      : el('p', { class: 'empty' }, view.empty);
  return el('div', { class: 'dry-run', 'data-section': 'dry-run' }, undefined, el('h3', {}, view.heading), body);
}
