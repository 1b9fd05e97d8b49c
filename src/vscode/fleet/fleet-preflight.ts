/**
 * "VRAM Guard: Where Does It Fit? (Fleet)": asks the need, reads the fleet, and offers every GPU of
 * every host as a quick pick, ranked by the room left after the need (`rankFleet`). Picking a host
 * that `~/.ssh/config` names opens it in a Remote-SSH window when that extension is installed.
 */
import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import * as vscode from 'vscode';
import { COMMAND } from '../command-ids.ts';
import { rankFleet, type FleetPlace } from '../../core/fleet/fleet-rank.ts';
import { MAX_SSH_CONFIG_BYTES, parseSshHosts, sshAliasFor } from '../../core/fleet/ssh-hosts.ts';
import { gib, marginText, sinceText } from '../../core/report/fleet-text.ts';
import { levelLabel } from '../../core/watch/levels.ts';
import type { VramGuardContext } from '../vram-guard-context.ts';
import { parseNeedText } from '../preflight/preflight-settings.ts';
import { askNeedBytes } from '../preflight/need-input.ts';
import { notificationLine } from '../../core/report/one-line.ts';
import { showNotice } from '../notifications/notice.ts';

export const FLEET_PREFLIGHT_COMMAND = COMMAND.fleetPreflight;
export const REMOTE_SSH_EXTENSION = 'ms-vscode-remote.remote-ssh';
/** Remote-SSH's documented, stable command: a new window connected to `{ host }`. */
export const REMOTE_SSH_OPEN = 'opensshremotes.openEmptyWindow';

const ICON: Record<FleetPlace['verdict'], string> = { fits: '$(pass)', tight: '$(warning)', 'no room': '$(error)', stale: '$(history)' };

interface PlacePick extends vscode.QuickPickItem {
  place: FleetPlace;
}

export function placeItem(p: FleetPlace, now: number): PlacePick {
  return {
    label: `${ICON[p.verdict]} ${p.host} · GPU ${p.gpu}${p.name ? ` · ${p.name}` : ''}`,
    description:
      p.verdict === 'stale' ? `stale: no data since ${sinceText(p.staleSince, now)}` : `${gib(p.roomAfterBytes)} left after it (margin ${gib(p.marginBytes)})`,
    detail: `${p.verdict} · ${gib(p.freeBytes)} free of ${gib(p.totalBytes)} · ${levelLabel(p.levelNow)} → ${levelLabel(p.levelAfter)} · thresholds ${gib(p.thresholds.warning)} / ${gib(p.thresholds.critical)} / ${gib(p.thresholds.emergency)}${p.thresholdsFrom === 'host' ? " (the host's)" : ' (ours)'}`,
    place: p,
  };
}

async function sshAlias(host: string, path: string): Promise<string | null> {
  try {
    const buf = await readFile(path);
    return sshAliasFor(host, parseSshHosts(buf.subarray(0, MAX_SSH_CONFIG_BYTES).toString('utf8')));
  } catch {
    return null;
  }
}

/** "Where Does It Fit? (Fleet)": every GPU of the fleet ranked for a need (asked, or given as text), the one picked opened with Remote-SSH. */
export const fleetPreflight = (ctx: VramGuardContext) => async (given?: unknown) => {
  if (!ctx.fleet.configured()) {
    void showNotice('info', 'No fleet yet: set vramGuard.fleet.prometheus or vramGuard.fleet.targets in your user settings.', [
      { label: 'Open Settings', run: () => vscode.commands.executeCommand('workbench.action.openSettings', 'vramGuard.fleet') },
    ]);
    return undefined;
  }
  const need = typeof given === 'string' ? parseNeedText(given) : { bytes: await askNeedBytes('VRAM Guard: where does it fit?', '20GiB') };
  if ('error' in need) {
    void showNotice('error', notificationLine(need.error));
    return undefined;
  }
  if (need.bytes === undefined) return undefined;
  const snapshot = await vscode.window.withProgress({ location: vscode.ProgressLocation.Window, title: 'VRAM Guard: reading the fleet…' }, () =>
    ctx.fleet.refreshNow(),
  );
  if (!snapshot) return undefined;
  const margin = ctx.config.current.preflight.margin;
  const places = rankFleet(snapshot.hosts, need.bytes, margin);
  const errors = snapshot.sources.filter((s) => !s.ok);
  const picked = await vscode.window.showQuickPick(
    places.map((p) => placeItem(p, snapshot.at)),
    {
      title: `Where does ${gib(need.bytes)} fit? (margin ${marginText(margin)})${errors.length ? ` — ${errors.length} source(s) failing, see the VRAM Guard output` : ''}`,
      placeHolder: places.length ? 'Pick a GPU (a host in ~/.ssh/config opens in a Remote-SSH window)' : 'No GPUs in the fleet',
      matchOnDescription: true,
      matchOnDetail: true,
    },
  );
  if (!picked) return { places, opened: null };
  const alias = await sshAlias(picked.place.host, join(homedir(), '.ssh', 'config'));
  const summary = `${picked.place.host} GPU ${picked.place.gpu}: ${picked.place.verdict}, ${gib(picked.place.roomAfterBytes)} left after ${gib(need.bytes)}`;
  if (alias && vscode.extensions.getExtension(REMOTE_SSH_EXTENSION)) {
    ctx.log.info(`fleet pre-flight: ${summary}; opening ${alias} with Remote-SSH`);
    await vscode.commands.executeCommand(REMOTE_SSH_OPEN, { host: alias });
    return { places, opened: alias };
  }
  const why = alias ? `install Remote-SSH (${REMOTE_SSH_EXTENSION}) to open it from here` : 'no ~/.ssh/config Host matches it';
  ctx.log.info(`fleet pre-flight: ${summary}; ${why}`);
  void showNotice('info', notificationLine(`${summary} (${why}).`));
  return { places, opened: null };
};
