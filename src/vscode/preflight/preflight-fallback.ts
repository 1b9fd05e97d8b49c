/**
 * "Run fallback chain" after a pre-flight that found too little free memory: the chain's dry run in
 * a Markdown view, then, once confirmed, its steps now, one at a time, until the need fits.
 */
import * as vscode from 'vscode';
import type { PreflightReport } from '../../core/checks/preflight.ts';
import { readingsOf } from '../../core/fallback/chain.ts';
import { eventText } from '../../core/fallback/events.ts';
import { dryRunMarkdown } from '../../core/fallback/report.ts';
import { formatGiB, formatMiB } from '../../core/units.ts';
import type { VramGuardContext } from '../vram-guard-context.ts';
import { SHOW_DETAILS, showNotice } from '../notifications/notice.ts';
import { freeTarget, runChainForNeed } from './preflight-actions.ts';

const RUN_NOW = 'Run chain now';

/** The pre-flight's "Run fallback chain" action. */
export function preflightFallbackAction(ctx: VramGuardContext): (report: PreflightReport) => Promise<void> {
  return async (report) => {
    const latest = ctx.watcher.latest;
    const target = freeTarget(report);
    const reading = latest && target ? readingsOf(latest).find((r) => r.gpu === target.gpu) : undefined;
    if (!latest || !target || !reading) {
      void showNotice('warning', 'The fallback chain needs a GPU reading and a need to free memory for: run the pre-flight check again.');
      return;
    }
    const plan = await ctx.chain.dryRun(latest);
    await ctx.views.show('Fallback chain dry run', dryRunMarkdown(plan, new Date()));
    if (!plan.some((e) => e.gpu === target.gpu && e.result === 'would-run')) {
      void showNotice('warning', `No fallback step has anything to do on GPU ${target.gpu} (see the dry run): free memory by hand, or shrink the need.`);
      return;
    }
    const more = Math.max(0, target.requiredFreeBytes - target.freeBytes);
    const choice = await vscode.window.showWarningMessage(
      `VRAM Guard: run the fallback chain on GPU ${target.gpu} now? Its steps (the dry run is open) run one at a time until ${formatMiB(target.requiredFreeBytes)} are free (need + margin; ${formatMiB(more)} more than the ${formatMiB(target.freeBytes)} free now).`,
      { modal: true },
      RUN_NOW,
    );
    if (choice !== RUN_NOW) return;
    ctx.log.info(`pre-flight: running the fallback chain on GPU ${target.gpu} until ${formatMiB(target.requiredFreeBytes)} are free`);
    const result = await vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: 'VRAM Guard: running the fallback chain…' }, () =>
      runChainForNeed(ctx.chain, plan, reading, target),
    );
    for (const e of result.events) ctx.log.info(`pre-flight: ${eventText(e)}`);
    const steps = `${result.events.length} step${result.events.length === 1 ? '' : 's'}`;
    const figures = `${formatGiB(result.freeBytes)} free on GPU ${target.gpu}, ${formatGiB(target.requiredFreeBytes)} wanted`;
    const details = [{ label: SHOW_DETAILS, run: () => ctx.log.show(true) }];
    if (result.enough) void showNotice('info', `The fallback chain made room in ${steps}: ${figures}; run the pre-flight check again to confirm.`, details);
    else void showNotice('warning', `The fallback chain did not free enough in ${steps}: ${figures}.`, details);
  };
}
