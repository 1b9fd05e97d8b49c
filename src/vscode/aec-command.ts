/**
 * "VRAM Guard: Verify Echo-Cancellation Device": runs the echo-cancellation check in a cancellable
 * progress notification, shows the report as a read-only Markdown preview and offers the echo
 * test as a follow-up. It runs fixed tools (pactl, parec, pw-play), never user-configured
 * commands, so it works in untrusted workspaces too.
 */
import * as vscode from 'vscode';
import { validateFormat, type AudioFormat } from '../core/checks/aec/audio-format.ts';
import { renderMarkdown } from '../core/checks/aec/report.ts';
import { defaultEchoSeconds, defaultRecordSeconds, defaultSourceName, verifyEchoCancellation, type AecReport } from '../core/checks/aec/verify.ts';
import type { MarkdownViews } from './markdown-view.ts';
import { errorMessage } from '../core/errors.ts';

export const aecCommandId = 'vramGuard.verifyEchoCancellation';

interface AecSettings {
  sourceName: string;
  format: AudioFormat;
  recordSeconds: number;
  problems: string[];
}

/** Reads and validates `vramGuard.aec.*`; a wrong value is named and replaced by its default. */
export function readAecSettings(config: vscode.WorkspaceConfiguration): AecSettings {
  const problems: string[] = [];
  let sourceName = config.get<unknown>('sourceName', defaultSourceName);
  if (typeof sourceName !== 'string' || sourceName.trim() === '') {
    problems.push(`vramGuard.aec.sourceName must be a source name, not ${JSON.stringify(sourceName)}`);
    sourceName = defaultSourceName;
  }
  const format = validateFormat(config.get<unknown>('format', { sampleFormat: 's16le', channels: 1, rate: 24000 }));
  for (const p of format.problems) problems.push(`vramGuard.aec.format: ${p}`);
  let recordSeconds = config.get<unknown>('recordSeconds', defaultRecordSeconds);
  if (typeof recordSeconds !== 'number' || !Number.isFinite(recordSeconds) || recordSeconds < 0.2 || recordSeconds > 30) {
    problems.push(`vramGuard.aec.recordSeconds must be a number of seconds from 0.2 to 30, not ${JSON.stringify(recordSeconds)}`);
    recordSeconds = defaultRecordSeconds;
  }
  return { sourceName: sourceName as string, format: format.format, recordSeconds: recordSeconds as number, problems };
}

export function registerAecCommand(views: MarkdownViews, log: vscode.LogOutputChannel): vscode.Disposable {
  let running = false;

  async function run(echoTest: boolean): Promise<void> {
    if (running) {
      void vscode.window.showInformationMessage('The echo-cancellation check is already running.');
      return;
    }
    running = true;
    try {
      const settings = readAecSettings(vscode.workspace.getConfiguration('vramGuard.aec'));
      for (const p of settings.problems) log.warn(`Setting ignored, the default is used: ${p}`);
      if (settings.problems.length > 0) {
        void vscode.window.showWarningMessage(`VRAM Guard: ${settings.problems.join('; ')}. The default is used for ${settings.problems.length === 1 ? 'it' : 'them'}; fix the setting to check your own.`);
      }
      const report = await vscode.window.withProgress(
        { location: vscode.ProgressLocation.Notification, title: echoTest ? 'VRAM Guard: echo test' : 'VRAM Guard: verifying echo cancellation', cancellable: true },
        async (progress, token): Promise<AecReport | null> => {
          const controller = new AbortController();
          const sub = token.onCancellationRequested(() => controller.abort());
          try {
            return await verifyEchoCancellation({
              sourceName: settings.sourceName,
              format: settings.format,
              recordSeconds: settings.recordSeconds,
              echoTest,
              echoSeconds: defaultEchoSeconds,
              env: process.env,
              signal: controller.signal,
              settingsProblems: settings.problems,
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
      void vscode.window.showWarningMessage(`VRAM Guard: the echo-cancellation check could not be completed (${message}). Run it again; the "VRAM Guard" output has the details.`);
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
