/**
 * "VRAM Guard: Verify Echo-Cancellation Device": runs the echo-cancellation check in a cancellable
 * progress notification, shows the report as a read-only Markdown preview and offers the echo
 * test as a follow-up. It runs fixed tools (pactl, parec, pw-play), never user-configured
 * commands, so it works in untrusted workspaces too.
 */
import * as vscode from 'vscode';
import { renderMarkdown } from '../core/checks/aec/report.ts';
import { defaultEchoSeconds, verifyEchoCancellation, type AecReport } from '../core/checks/aec/verify.ts';
import type { MarkdownViews } from './markdown-view.ts';
import type { AllSettings } from './settings-sections.ts';
import { errorMessage } from '../core/errors.ts';

export const aecCommandId = 'vramGuard.verifyEchoCancellation';

/** `settings`: every section as the configuration validated it; the report repeats the `vramGuard.aec` problems. */
export function registerAecCommand(views: MarkdownViews, log: vscode.LogOutputChannel, settings: () => AllSettings): vscode.Disposable {
  let running = false;

  async function run(echoTest: boolean): Promise<void> {
    if (running) {
      void vscode.window.showInformationMessage('The echo-cancellation check is already running.');
      return;
    }
    running = true;
    try {
      const { aec, problems } = settings();
      const report = await vscode.window.withProgress(
        {
          location: vscode.ProgressLocation.Notification,
          title: echoTest ? 'VRAM Guard: echo test' : 'VRAM Guard: verifying echo cancellation',
          cancellable: true,
        },
        async (progress, token): Promise<AecReport | null> => {
          const controller = new AbortController();
          const sub = token.onCancellationRequested(() => controller.abort());
          try {
            return await verifyEchoCancellation({
              sourceName: aec.sourceName,
              format: aec.format,
              recordSeconds: aec.recordSeconds,
              echoTest,
              echoSeconds: defaultEchoSeconds,
              env: process.env,
              signal: controller.signal,
              settingsProblems: problems.filter((p) => p.startsWith('vramGuard.aec.')),
              onProgress: (message) => {
                log.info(`Echo-cancellation check: ${message}`);
                progress.report({ message });
              },
            });
          } catch (e) {
            if (controller.signal.aborted) return null;
            throw e;
          } finally {
            sub.dispose();
          }
        },
      );
      if (report === null) {
        log.info('Echo-cancellation check cancelled.');
        return;
      }
      for (const c of report.checks) log.info(`[${c.status}] ${c.title}: ${c.detail}${c.advice ? ` — ${c.advice}` : ''}`);
      await views.show('echo-cancellation-check', renderMarkdown(report));
      await followUp(report);
    } catch (e) {
      const message = errorMessage(e);
      log.error(`Echo-cancellation check could not be completed: ${message}`);
      void vscode.window.showWarningMessage(
        `VRAM Guard: the echo-cancellation check could not be completed (${message}). Run it again; the "VRAM Guard" output has the details.`,
      );
    } finally {
      running = false;
    }
  }

  async function followUp(report: AecReport): Promise<void> {
    if (!report.available) {
      void vscode.window.showInformationMessage(`VRAM Guard: ${report.checks[0]?.detail ?? 'the echo-cancellation check is not available here.'}`);
      return;
    }
    const failed = report.checks.filter((c) => c.status === 'fail').length;
    const warned = report.checks.filter((c) => c.status === 'warn').length;
    const summary =
      failed > 0
        ? `${failed} check${failed === 1 ? '' : 's'} failed; the report says what to do.`
        : warned > 0
          ? `it works, with ${warned} warning${warned === 1 ? '' : 's'}.`
          : 'every check passed.';
    const canEcho = !report.echoTest && report.checks.some((c) => c.id === 'aec.source' && c.status !== 'fail');
    const runEcho = 'Run echo test';
    const choice = canEcho
      ? await vscode.window.showInformationMessage(
          `Echo cancellation: ${summary} The echo test plays ${defaultEchoSeconds} s of noise on the default output and measures how much the canceller removes.`,
          runEcho,
        )
      : await vscode.window.showInformationMessage(`Echo cancellation: ${summary}`);
    if (choice === runEcho) await run(true);
  }

  return vscode.commands.registerCommand(aecCommandId, (args?: { echoTest?: boolean }) => run(args?.echoTest === true));
}
