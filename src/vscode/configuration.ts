/**
 * The settings as VRAM Guard uses them: read and validated in one place (settings-sections.ts), one
 * change listener, and one way a problem reaches the user — logged, then one warning with "Open
 * Settings", shown again only when the set of problems changes. Problems found later by other
 * parts (thresholds that do not fit a GPU) join through `setProblems`.
 */
import * as vscode from 'vscode';
import { readAllSettings, type AllSettings } from './settings-sections.ts';
import { ignoredWorkspaceSettings, trustAwareGetter } from './settings.ts';
import { settingsProblemsLine } from '../core/report/one-line.ts';
import { Emitter } from '../core/events.ts';
import { SHOW_DETAILS, showNotice } from './notifications/notice.ts';

export type SettingsListener = (now: AllSettings, before: AllSettings) => void;

export class Configuration implements vscode.Disposable {
  private value: AllSettings;
  /** A listener that fails is reported like any emitter's (in the output channel, as "settings"); the others still run. */
  private readonly changes = new Emitter<{ settings: Parameters<SettingsListener> }>();
  private readonly extraProblems = new Map<string, string[]>();
  private shownProblems = '';
  private readonly subscriptions: vscode.Disposable[];
  private readonly log: vscode.LogOutputChannel;

  constructor(log: vscode.LogOutputChannel) {
    this.log = log;
    this.value = Configuration.read();
    this.subscriptions = [
      vscode.workspace.onDidChangeConfiguration((e) => {
        if (e.affectsConfiguration('vramGuard')) this.reread();
      }),
      // Trust granted: the workspace's own values of the restricted settings apply from now on.
      vscode.workspace.onDidGrantWorkspaceTrust(() => this.reread()),
    ];
    const ignored = ignoredWorkspaceSettings((key) => vscode.workspace.getConfiguration('vramGuard').inspect(key), vscode.workspace.isTrusted);
    if (ignored.length)
      log.info(
        `this workspace is not trusted: its values of ${ignored.join(', ')} are ignored (the user's settings or the defaults apply) until it is trusted`,
      );
  }

  private reread(): void {
    const before = this.value;
    this.value = Configuration.read();
    this.changes.emit('settings', this.value, before);
    this.reportProblems();
  }

  get current(): AllSettings {
    return this.value;
  }

  /** Called after every change, with the settings before it; returns the unsubscriber. */
  onDidChange(listener: SettingsListener): vscode.Disposable {
    const off = this.changes.on('settings', listener);
    return { dispose: () => void off() };
  }

  /** Problems another part found in the settings (keyed by who found them), reported like the rest. */
  setProblems(from: string, problems: string[]): void {
    this.extraProblems.set(from, problems);
    this.reportProblems();
  }

  problems(): string[] {
    return [...this.value.problems, ...[...this.extraProblems.values()].flat()];
  }

  /** Logs each problem and shows one warning, once per distinct set of problems. */
  reportProblems(): void {
    const problems = this.problems();
    const key = problems.join('\n');
    if (key === this.shownProblems) return;
    this.shownProblems = key;
    if (!problems.length) return;
    for (const p of problems) this.log.warn(p);
    void showNotice('warning', settingsProblemsLine(problems), [
      { label: 'Open Settings', run: () => vscode.commands.executeCommand('workbench.action.openSettings', 'vramGuard') },
      { label: SHOW_DETAILS, run: () => this.log.show(true) },
    ]);
  }

  /** Writes the fallback mode to the user settings (the dashboard's mode switch). */
  setFallbackMode(mode: string): Thenable<void> {
    return vscode.workspace.getConfiguration('vramGuard').update('fallbackMode', mode, vscode.ConfigurationTarget.Global);
  }

  dispose(): void {
    for (const s of this.subscriptions) s.dispose();
    this.changes.clear();
  }

  /** In an untrusted workspace the workspace cannot set the restricted settings. */
  private static read(): AllSettings {
    const config = vscode.workspace.getConfiguration('vramGuard');
    return readAllSettings(
      trustAwareGetter(
        (key) => config.get(key),
        (key) => config.inspect(key),
        vscode.workspace.isTrusted,
      ),
    );
  }
}
