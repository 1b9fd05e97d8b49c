/**
 * "VRAM Guard: Pre-flight Check": asks what the server needs (a size, or a .gguf file to
 * estimate), checks it against the GPU under a progress notification, and shows the report as a
 * Markdown view. `checkBeforeStart` is the same check without the questions, for a server task's
 * gate; "Start anyway" and "Run fallback chain" appear only when their hooks are given.
 */
import * as vscode from 'vscode';
import { basename } from 'node:path';
import { estimateGgufFile } from '../core/checks/gguf-estimate.ts';
import { runPreflight, type PreflightNeed, type PreflightReport } from '../core/checks/preflight.ts';
import { preflightMarkdown, preflightSummary } from '../core/checks/preflight-report.ts';
import type { ThresholdSpec } from '../core/watch/thresholds.ts';
import type { MarkdownViews } from './markdown-view.ts';
import { offeredActions, RUN_FALLBACK_CHAIN, START_ANYWAY } from './preflight-actions.ts';
import { MODEL_RUN_DEFAULT_TEXT, parseModelRunText, parseNeedText, type ModelRun, type PreflightSettings } from './preflight-settings.ts';
import { errorMessage } from '../core/errors.ts';
import type { GpuReading } from '../core/watch/watcher.ts';

export const PREFLIGHT_COMMAND = 'vramGuard.preflightCheck';

/** What a caller wants checked: nothing in particular, a size, or a model file at a context. */
export type PreflightRequest = { kind: 'none' } | { kind: 'size'; bytes: number; from: string } | { kind: 'model'; path: string; run: ModelRun };

/** Offered after a check that did not pass (see `offeredActions`), when the composition gives them. */
export interface PreflightActions {
  startAnyway?: (report: PreflightReport) => Promise<void>;
  runFallbackChain?: (report: PreflightReport) => Promise<void>;
}

export interface PreflightDeps {
  views: MarkdownViews;
  log: vscode.LogOutputChannel;
  /** The thresholds in force and the pre-flight settings, read when a check runs. */
  readSettings: () => { thresholds: ThresholdSpec; preflight: PreflightSettings };
  /** The GPU as the watcher last sampled it (so NVML is not opened a second time), or why there is none. */
  currentGpu: () => Promise<GpuReading>;
  /** The GPU to check (default 0). */
  gpu?: () => number;
  /** PIDs of the processes tasks started; absent while tasks are not tracked. */
  ownedPids?: () => ReadonlySet<number> | undefined;
  actions?: PreflightActions;
}

/** Runs the check for `request` without asking anything: the gate a server task calls before it starts. */
export async function checkBeforeStart(deps: PreflightDeps, request: PreflightRequest): Promise<PreflightReport> {
  const settings = deps.readSettings();
  for (const p of settings.preflight.problems) deps.log.warn(p);
  const needPromise: Promise<PreflightNeed> =
    request.kind === 'model' ? estimateGgufFile(request.path, request.run).then((estimate) => ({ kind: 'estimate', estimate })) : Promise.resolve(request);
  const [need, gpu] = await Promise.all([needPromise, deps.currentGpu()]);
  const report = runPreflight(gpu, {
    gpu: deps.gpu?.() ?? 0,
    need,
    margin: settings.preflight.margin,
    residualThreshold: settings.preflight.residualThreshold,
    thresholds: settings.thresholds,
    platform: process.platform,
    strict: false,
    ownedPids: deps.ownedPids?.(),
  });
  deps.log.info(`pre-flight: ${preflightSummary(report)}`);
  return report;
}

interface NeedPick extends vscode.QuickPickItem {
  choice: 'size' | 'model' | 'none';
}

async function askRequest(): Promise<PreflightRequest | undefined> {
  const picked = await vscode.window.showQuickPick<NeedPick>(
    [
      { label: '$(symbol-numeric) Enter what the server needs', description: 'a size, e.g. 6GiB or 6144MiB', choice: 'size' },
      { label: '$(file) Estimate from a .gguf model file…', description: 'weights + KV cache + compute buffers', choice: 'model' },
      { label: '$(pulse) Check the GPU only', description: 'residual memory, level, persistence mode, driver', choice: 'none' },
    ],
    { title: 'VRAM Guard: Pre-flight Check', placeHolder: 'What will the model server need?' },
  );
  if (!picked) return undefined;
  if (picked.choice === 'none') return { kind: 'none' };
  if (picked.choice === 'size') {
    const text = await vscode.window.showInputBox({
      title: 'VRAM Guard: Pre-flight Check',
      prompt: 'VRAM the model server needs (MiB and GiB are binary, MB and GB decimal)',
      placeHolder: '6GiB',
      validateInput: (t) => {
        const r = parseNeedText(t);
        return 'error' in r ? r.error : undefined;
      },
    });
    if (text === undefined) return undefined;
    const r = parseNeedText(text);
    return 'error' in r ? undefined : { kind: 'size', bytes: r.bytes, from: 'the size entered' };
  }
  const files = await vscode.window.showOpenDialog({ canSelectMany: false, openLabel: 'Estimate', title: 'The model the server will load', filters: { 'GGUF models': ['gguf'], 'All files': ['*'] } });
  const file = files?.[0];
  if (!file) return undefined;
  const runText = await vscode.window.showInputBox({
    title: `VRAM Guard: Pre-flight Check — ${basename(file.fsPath)}`,
    prompt: 'Context per sequence (Ollama num_ctx; llama-server -c ÷ -np), × parallel slots, KV cache type',
    value: MODEL_RUN_DEFAULT_TEXT,
    placeHolder: '4096, 8192x2 or 8192x2 q8_0',
    validateInput: (t) => {
      const r = parseModelRunText(t);
      return 'error' in r ? r.error : undefined;
    },
  });
  if (runText === undefined) return undefined;
  const run = parseModelRunText(runText);
  return 'error' in run ? undefined : { kind: 'model', path: file.fsPath, run };
}

async function showResult(deps: PreflightDeps, report: PreflightReport): Promise<void> {
  await deps.views.show('Pre-flight check', preflightMarkdown(report));
  // No button without a hook; "Run fallback chain" only when memory is what is short.
  const buttons = offeredActions(report, deps.actions);
  const start = deps.actions?.startAnyway;
  const fallback = deps.actions?.runFallbackChain;
  const text = `VRAM Guard pre-flight: ${preflightSummary(report)}`;
  const show = report.verdict === 'fail' ? vscode.window.showErrorMessage : report.verdict === 'warn' ? vscode.window.showWarningMessage : vscode.window.showInformationMessage;
  const choice = await show(text, ...buttons);
  try {
    if (choice === START_ANYWAY) await start?.(report);
    if (choice === RUN_FALLBACK_CHAIN) await fallback?.(report);
  } catch (err) {
    const message = errorMessage(err);
    deps.log.error(`pre-flight action "${choice}" failed: ${message}`);
    void vscode.window.showErrorMessage(`VRAM Guard: "${choice}" failed: ${message}. See the VRAM Guard output for details.`);
  }
}

export function registerPreflightCommand(deps: PreflightDeps): vscode.Disposable {
  return vscode.commands.registerCommand(PREFLIGHT_COMMAND, async () => {
    const request = await askRequest();
    if (!request) return;
    try {
      const report = await vscode.window.withProgress(
        { location: vscode.ProgressLocation.Notification, title: 'VRAM Guard: pre-flight check' },
        async (progress) => {
          progress.report({ message: request.kind === 'model' ? `reading ${basename(request.path)} and the GPU…` : 'reading the GPU…' });
          return checkBeforeStart(deps, request);
        },
      );
      await showResult(deps, report);
    } catch (err) {
      const message = errorMessage(err);
      deps.log.error(`pre-flight check failed: ${message}`);
      void vscode.window.showErrorMessage(`VRAM Guard: the pre-flight check could not run: ${message}. Run it again; if it repeats, report it with the VRAM Guard output.`);
    }
  });
}
