/**
 * "VRAM Guard: Verify Echo-Cancellation Device": runs the echo-cancellation check in a cancellable
 * progress notification, shows the report as a read-only Markdown preview and offers the echo
 * test as a follow-up. It runs fixed tools (pactl, parec, pw-play), never user-configured
 * commands, so it works in untrusted workspaces too.
 */
import * as vscode from 'vscode';
import { renderMarkdown } from '../../core/aec/report.ts';
import { defaultEchoSeconds, verifyEchoCancellation, type AecReport } from '../../core/aec/verify.ts';
import type { VramGuardContext } from '../vram-guard-context.ts';
import { errorMessage } from '../../core/errors.ts';
import { aecUnavailableLine, errorLine } from '../../core/report/one-line.ts';
import { detailsAction, SHOW_DETAILS, showNotice } from '../notifications/notice.ts';

/** "Verify Echo-Cancellation Device"; with `{ echoTest: true }`, the echo test at once. The report repeats the `vramGuard.aec` problems. */
export const verifyEchoCancellationDevice = (ctx: VramGuardContext) => {
  const { views, log } = ctx;
  const settings = () => ctx.config.current;
  let running = false;

  async function run(echoTest: boolean): Promise<void> {
    if (running) {
      void showNotice('info', 'The echo-cancellation check is already running.');
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
      void showNotice('warning', errorLine('The echo-cancellation check', e), [{ label: SHOW_DETAILS, run: () => log.show(true) }]);
    } finally {
      running = false;
    }
  }

  async function followUp(report: AecReport): Promise<void> {
    if (!report.available) {
      void showNotice('info', aecUnavailableLine(report.checks), [detailsAction(views, 'echo-cancellation-check', () => renderMarkdown(report))]);
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
    // The echo test plays a few seconds of noise on the default output and measures how much the canceller removes.
    const choice = await showNotice(
      'info',
      `Echo cancellation: ${summary.replace(/\.$/, '')}${canEcho ? ` — the echo test plays ${defaultEchoSeconds} s of noise to measure the canceller` : ''}.`,
      [...(canEcho ? [{ label: runEcho, run: () => undefined }] : []), detailsAction(views, 'echo-cancellation-check', () => renderMarkdown(report))],
    );
    if (choice === runEcho) await run(true);
  }

  return (args?: unknown) => run(typeof args === 'object' && args !== null && (args as { echoTest?: unknown }).echoTest === true);
};
