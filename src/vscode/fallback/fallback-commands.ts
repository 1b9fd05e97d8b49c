/**
 * The fallback chain's commands and prompts: "Run Fallback Step…", "Run Fallback Chain (dry run)",
 * "Stop Model Server…", and the question a `confirm` step asks, with the numbers.
 */
import * as vscode from 'vscode';
import { readingsOf, type ConfirmRequest } from '../../core/fallback/chain.ts';
import { dryRunMarkdown } from '../../core/fallback/report.ts';
import { describeTrigger } from '../../core/servers/fallback-steps.ts';
import { formatMiB } from '../../core/units.ts';
import { levelLabel } from '../../core/watch/levels.ts';
import type { VramGuardContext } from '../vram-guard-context.ts';
import { fallbackConfirmLine, fallbackResultLine } from '../../core/report/one-line.ts';
import { SHOW_DETAILS, showNotice } from '../notifications/notice.ts';

/** The prompt of a `confirm` step: the GPU's figures, the trigger, and what would be done. */
export async function confirmStep(request: ConfirmRequest): Promise<boolean> {
  const choice = await vscode.window.showWarningMessage(fallbackConfirmLine(request.reading, request.index, request.description), 'Run step', 'Not now');
  return choice === 'Run step';
}

/** The GPU a step runs on: the only one, or the one picked; null when there is no reading (it says so) or none was picked. */
async function pickReading(ctx: VramGuardContext) {
  const latest = ctx.watcher.latest;
  const readings = latest ? readingsOf(latest) : [];
  if (!readings.length) {
    void showNotice('warning', 'No GPU reading yet, so the fallback chain has nothing to measure: check the status bar, then try again.');
    return null;
  }
  if (readings.length === 1) return readings[0];
  const pick = await vscode.window.showQuickPick(
    readings.map((r) => ({ label: `GPU ${r.gpu}`, description: `${levelLabel(r.level)} · ${formatMiB(r.used)} of ${formatMiB(r.total)}`, reading: r })),
    { title: 'Which GPU?' },
  );
  return pick?.reading ?? null;
}

/** "Run Fallback Step…": a step of the chain in force, on a GPU, now. */
export const runFallbackStep = (ctx: VramGuardContext) => async () => {
  const reading = await pickReading(ctx);
  if (!reading) return;
  const steps = ctx.fallbackSteps();
  if (!steps.length) {
    void showNotice('info', 'No fallback steps are configured: add them in the setting vramGuard.fallbackChain or in a task\'s "fallback".');
    return;
  }
  const latest = ctx.watcher.latest;
  const plan = latest ? await ctx.chain.dryRun(latest) : [];
  const pick = await vscode.window.showQuickPick(
    steps.map((s, i) => ({
      label: `${i + 1}. ${s.label}`,
      description: `${describeTrigger(s.trigger)} · ${s.mode ?? 'chain mode'}`,
      detail: plan.find((e) => e.step === i && e.gpu === reading.gpu)?.message,
      index: i,
    })),
    { title: `Run a fallback step on GPU ${reading.gpu} (${formatMiB(reading.used)} used)`, matchOnDetail: true },
  );
  if (!pick) return;
  const event = await vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: `VRAM Guard: ${pick.label}…` }, () =>
    ctx.chain.runStep(pick.index, reading),
  );
  if (!event) return;
  // The chain has logged the step's full account; the notification is its one line.
  void showNotice(event.result === 'done' ? 'info' : 'warning', fallbackResultLine(event), [{ label: SHOW_DETAILS, run: () => ctx.log.show(true) }]);
};

/** "Run Fallback Chain (dry run)": what each step would do now, in a Markdown view. */
export const dryRunFallbackChain = (ctx: VramGuardContext) => async () => {
  const latest = ctx.watcher.latest;
  const events = latest ? await ctx.chain.dryRun(latest) : [];
  await ctx.views.show('Fallback chain dry run', dryRunMarkdown(events, new Date()));
};

/** "Stop Model Server…": one of the servers tasks started. */
export const stopModelServer = (ctx: VramGuardContext) => async () => {
  const running = ctx.servers.all().filter((s) => s.pid !== null);
  if (!running.length) {
    void showNotice('info', 'No model server started from a vram-guard task is running.');
    return;
  }
  const pick = await vscode.window.showQuickPick(
    running.map((s) => ({ label: s.name, description: `${s.task.server} · PID ${s.pid} · ${s.state}`, server: s })),
    { title: 'Stop which model server? (SIGTERM, then SIGKILL after the stop timeout)' },
  );
  if (!pick) return;
  const r = await vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: `VRAM Guard: stopping ${pick.label}…` }, () =>
    pick.server.stop('stopped from the command palette'),
  );
  ctx.log.info(`${pick.label}: stopped from the command palette (${r?.how ?? 'already exited'})`);
};
