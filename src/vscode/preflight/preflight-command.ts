/**
 * "VRAM Guard: Pre-flight Check": asks what the server needs (a size, or a .gguf file to
 * estimate), checks it against the GPU under a progress notification, and shows the report as a
 * Markdown view, offering "Run fallback chain" when memory is what is short. `checkBeforeStart` is
 * the same check without the questions.
 */
import * as vscode from 'vscode';
import { COMMAND } from '../command-ids.ts';
import { basename } from 'node:path';
import { runPreflight, type PreflightNeed, type PreflightReport } from '../../core/checks/preflight.ts';
import { modelNeedFor } from '../../core/checks/preflight-gate.ts';
import { preflightMarkdown, preflightSummary } from '../../core/checks/preflight-report.ts';
import { FLEET_PREFLIGHT_COMMAND } from '../fleet/fleet-preflight.ts';
import { offeredActions, RUN_FALLBACK_CHAIN } from './preflight-actions.ts';
import { detailsAction, showNotice, type NoticeAction } from '../notifications/notice.ts';
import { preflightLine } from '../../core/checks/check-lines.ts';
import { errorLine } from '../../core/report/one-line.ts';
import { askNeedBytes } from './need-input.ts';
import { parseServerArgsText, SERVER_ARGS_DEFAULT_TEXT } from './preflight-settings.ts';
import { preflightFallbackAction } from './preflight-fallback.ts';
import type { VramGuardContext } from '../vram-guard-context.ts';
import { errorMessage } from '../../core/errors.ts';
import { GGUF_SERVER_KIND } from '../../core/servers/kinds/index.ts';

export const PREFLIGHT_COMMAND = COMMAND.preflightCheck;

/** What a caller wants checked: nothing in particular, a size, or a model file run with llama-server's arguments. */
export type PreflightRequest = { kind: 'none' } | { kind: 'size'; bytes: number; from: string } | { kind: 'model'; path: string; args: string[] };

/** Runs the check for `request` without asking anything: the gate a server task calls before it starts. */
export async function checkBeforeStart(ctx: VramGuardContext, request: PreflightRequest): Promise<PreflightReport> {
  const settings = { thresholds: ctx.config.current.general.thresholds, preflight: ctx.config.current.preflight };
  for (const p of settings.preflight.problems) ctx.log.warn(p);
  const index = 0;
  const gpu = await ctx.readGpu();
  let need: PreflightNeed = request.kind === 'model' ? { kind: 'none' } : request;
  if (request.kind === 'model') {
    const r = await modelNeedFor(
      {
        taskName: basename(request.path),
        gpu: index,
        reading: gpu,
        needsBytes: null,
        modelPath: request.path,
        contextLength: null,
        run: { server: GGUF_SERVER_KIND, args: request.args, env: {}, cwd: null },
      },
      { footprints: ctx.footprints },
      'the arguments entered',
    );
    if (r) need = r.need;
  }
  const reservations = await ctx.reservations.list(index).catch(() => []);
  const report = runPreflight(gpu, {
    gpu: index,
    reservations,
    need,
    margin: settings.preflight.margin,
    residualThreshold: settings.preflight.residualThreshold,
    thresholds: settings.thresholds,
    platform: process.platform,
    strict: false,
    ownedPids: ctx.ownedPids(),
  });
  ctx.log.info(`pre-flight: ${preflightSummary(report)}`);
  return report;
}

interface NeedPick extends vscode.QuickPickItem {
  choice: 'size' | 'model' | 'none' | 'fleet';
}

async function askRequest(fleet: boolean): Promise<PreflightRequest | 'fleet' | undefined> {
  const picked = await vscode.window.showQuickPick<NeedPick>(
    [
      { label: '$(symbol-numeric) Enter what the server needs', description: 'a size, e.g. 6GiB or 6144MiB', choice: 'size' },
      { label: '$(file) Estimate from a .gguf model file…', description: 'weights + KV cache + compute buffers', choice: 'model' },
      { label: '$(pulse) Check the GPU only', description: 'residual memory, level, persistence mode, driver', choice: 'none' },
      ...(fleet
        ? [
            {
              label: '$(server-environment) Where does it fit in the fleet?',
              description: 'every GPU of every host, ranked by the room left',
              choice: 'fleet' as const,
            },
          ]
        : []),
    ],
    { title: 'VRAM Guard: Pre-flight Check', placeHolder: 'What will the model server need?' },
  );
  if (!picked) return undefined;
  if (picked.choice === 'fleet') return 'fleet';
  if (picked.choice === 'none') return { kind: 'none' };
  if (picked.choice === 'size') {
    const bytes = await askNeedBytes('VRAM Guard: Pre-flight Check', '6GiB');
    return bytes === undefined ? undefined : { kind: 'size', bytes, from: 'the size entered' };
  }
  const files = await vscode.window.showOpenDialog({
    canSelectMany: false,
    openLabel: 'Estimate',
    title: 'The model the server will load',
    filters: { 'GGUF models': ['gguf'], 'All files': ['*'] },
  });
  const file = files?.[0];
  if (!file) return undefined;
  const argsText = await vscode.window.showInputBox({
    title: `VRAM Guard: Pre-flight Check — ${basename(file.fsPath)}`,
    prompt: "llama-server's arguments, as on its command line (-c, -np, -fa, -ctk/-ctv, -ngl, --n-cpu-moe, --mmproj ...); empty: its defaults",
    value: SERVER_ARGS_DEFAULT_TEXT,
    placeHolder: '-c 16384 -np 2 -fa on -ctk q8_0 -ctv q8_0',
    validateInput: (t) => {
      const r = parseServerArgsText(t);
      return 'error' in r ? r.error : undefined;
    },
  });
  if (argsText === undefined) return undefined;
  const run = parseServerArgsText(argsText);
  return 'error' in run ? undefined : { kind: 'model', path: file.fsPath, args: run.args };
}

async function showResult(ctx: VramGuardContext, report: PreflightReport): Promise<void> {
  await ctx.views.show('Pre-flight check', preflightMarkdown(report));
  // "Start anyway" belongs to a task's gate (server-tasks.ts), where there is a server to start;
  // "Run fallback chain" is offered only when memory is what is short.
  const runFallbackChain = preflightFallbackAction(ctx);
  const actions: NoticeAction[] = offeredActions(report, { runFallbackChain }).map((label) => ({
    label,
    run: () => (label === RUN_FALLBACK_CHAIN ? runFallbackChain(report) : undefined),
  }));
  actions.push(detailsAction(ctx.views, 'Pre-flight check', () => preflightMarkdown(report)));
  const severity = report.verdict === 'fail' ? 'error' : report.verdict === 'warn' ? 'warning' : 'info';
  await showNotice(severity, preflightLine(report), actions, ctx.log);
}

/** "Pre-flight Check": asks what the server needs, checks it, shows the report. */
export const preflightCheck = (ctx: VramGuardContext) => async () => {
  const request = await askRequest(ctx.fleet.configured());
  if (!request) return;
  if (request === 'fleet') {
    await vscode.commands.executeCommand(FLEET_PREFLIGHT_COMMAND);
    return;
  }
  try {
    const report = await vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title: 'VRAM Guard: pre-flight check' },
      async (progress) => {
        progress.report({ message: request.kind === 'model' ? `reading ${basename(request.path)} and the GPU…` : 'reading the GPU…' });
        return checkBeforeStart(ctx, request);
      },
    );
    await showResult(ctx, report);
  } catch (err) {
    ctx.log.error(`pre-flight check failed: ${errorMessage(err)}`);
    void showNotice('error', errorLine('The pre-flight check', err), [{ label: 'Show details', run: () => ctx.log.show(true) }]);
  }
};
