/** The status bar item: text, colour and tooltip from the watcher's state. */
import * as vscode from 'vscode';
import { COMMAND } from '../command-ids.ts';
import { OPEN_DASHBOARD_COMMAND } from '../dashboard/dashboard-panel.ts';
import { ProcessRecogniser, recognitionText } from '../../core/servers/recognition/recogniser.ts';
import { fleetLine } from '../../core/fleet/fleet-summary.ts';
import type { VramGuardContext } from '../vram-guard-context.ts';
import { statusView, type StatusView, type StatusViewInput } from './status-view.ts';

export const SHOW_DETAILS_COMMAND = COMMAND.showDetails;

export class GpuStatusBar implements vscode.Disposable {
  private readonly item: vscode.StatusBarItem;
  /** Names the GPU processes in the tooltip, from /proc, cached between samples (read off the sample's path). */
  private readonly recogniser = new ProcessRecogniser();
  private kinds = new Map<number, string>();
  private lastInput: StatusViewInput | null = null;
  private recognising = false;
  view: StatusView;

  constructor() {
    this.item = vscode.window.createStatusBarItem('vramGuard.status', vscode.StatusBarAlignment.Right, 100);
    this.item.name = 'VRAM Guard';
    this.item.command = OPEN_DASHBOARD_COMMAND;
    this.view = { text: '$(loading~spin) VRAM', tooltip: 'VRAM Guard: looking for a GPU…', background: null, visible: true, level: null };
    this.apply(this.view);
  }

  update(input: StatusViewInput): void {
    this.lastInput = input;
    this.view = statusView({ ...input, processKinds: this.kinds });
    this.apply(this.view);
    void this.recognise(input);
  }

  /** Reads what the sample's processes are; when that changes what the tooltip says, shows it. */
  private async recognise(input: StatusViewInput): Promise<void> {
    if (this.recognising || process.platform !== 'linux') return;
    this.recognising = true;
    try {
      const pids = input.latest?.sample.devices.flatMap((d) => d.processes.map((p) => p.pid)) ?? [];
      const found = await this.recogniser.recognise(pids);
      const kinds = new Map<number, string>();
      for (const [pid, r] of found) if (r.kind !== 'unknown') kinds.set(pid, recognitionText(r));
      if (JSON.stringify([...kinds]) === JSON.stringify([...this.kinds])) return;
      this.kinds = kinds;
      if (this.lastInput) {
        this.view = statusView({ ...this.lastInput, processKinds: this.kinds });
        this.apply(this.view);
      }
    } catch {
      // the tooltip keeps its plain process names
    } finally {
      this.recognising = false;
    }
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
    this.recogniser.dispose();
    this.item.dispose();
  }
}

/** The context's status bar: shown from now on (the context's lifetime hides it); `update` redraws it from the context's state. */
export function activateStatusBar(ctx: Pick<VramGuardContext, 'watcher' | 'config' | 'fleet' | 'leakWatch' | 'own'>): {
  update(): void;
  readonly view: StatusView;
} {
  const bar = new GpuStatusBar();
  ctx.own(bar);
  return {
    update: () => {
      const g = ctx.config.current.general;
      const fleet = ctx.fleet.latest;
      bar.update({
        status: ctx.watcher.status,
        latest: ctx.watcher.latest,
        gpu: g.statusBarGpu,
        hideWhenNoGpu: g.hideWhenNoGpu,
        fleetLine: fleet ? fleetLine(fleet) : null,
        trendLines: ctx.leakWatch.lines(),
      });
    },
    get view() {
      return bar.view;
    },
  };
}
