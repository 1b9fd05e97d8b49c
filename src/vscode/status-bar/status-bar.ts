/** The status bar item: text, colour and tooltip from the watcher's state. */
import * as vscode from 'vscode';
import { OPEN_DASHBOARD_COMMAND } from '../dashboard/dashboard-panel.ts';
import { statusView, type StatusView, type StatusViewInput } from './status-view.ts';

export const SHOW_DETAILS_COMMAND = 'vramGuard.showDetails';

export class GpuStatusBar implements vscode.Disposable {
  private readonly item: vscode.StatusBarItem;
  view: StatusView;

  constructor() {
    this.item = vscode.window.createStatusBarItem('vramGuard.status', vscode.StatusBarAlignment.Right, 100);
    this.item.name = 'VRAM Guard';
    this.item.command = OPEN_DASHBOARD_COMMAND;
    this.view = { text: '$(loading~spin) VRAM', tooltip: 'VRAM Guard: looking for a GPU…', background: null, visible: true, level: null };
    this.apply(this.view);
  }

  update(input: StatusViewInput): void {
    this.view = statusView(input);
    this.apply(this.view);
  }

  private apply(view: StatusView): void {
    this.item.text = view.text;
    const tooltip = new vscode.MarkdownString(view.tooltip, true);
    tooltip.isTrusted = false;
    this.item.tooltip = tooltip;
    this.item.backgroundColor = view.background ? new vscode.ThemeColor(view.background) : undefined;
    this.item.accessibilityInformation = { label: `VRAM Guard: ${view.text.replace(/\$\([^)]*\)\s*/g, '')}${view.level ? `, ${view.level}` : ''}` };
    if (view.visible) this.item.show();
    else this.item.hide();
  }

  dispose(): void {
    this.item.dispose();
  }
}
