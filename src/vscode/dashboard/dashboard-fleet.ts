/**
 * The dashboard's Fleet section, in the protocol's shape (MiB with one decimal), from a fleet
 * snapshot. Pure (no vscode import), so it is tested in plain Node.
 */
import { fleetLine } from '../../core/fleet/fleet-summary.ts';
import type { FleetSnapshot } from '../../core/fleet/fleet-types.ts';
import { sinceText } from '../../core/report/fleet-text.ts';
import type { FleetView } from '../../protocol.ts';
import { toMiB } from './dashboard-data.ts';

export function fleetView(snapshot: FleetSnapshot): FleetView {
  return {
    at: snapshot.at,
    line: fleetLine(snapshot),
    hosts: snapshot.hosts.map((h) => ({
      name: h.name,
      instance: h.instance,
      stale: h.stale ? `no data since ${sinceText(h.stale.since, snapshot.at)}` : null,
      gpus: h.gpus.map((g) => ({
        index: g.index,
        name: g.name,
        usedMiB: toMiB(g.usedBytes),
        totalMiB: toMiB(g.totalBytes),
        level: g.level,
        thresholds: { warning: toMiB(g.thresholds.warning), critical: toMiB(g.thresholds.critical), emergency: toMiB(g.thresholds.emergency) },
        thresholdsFrom: g.thresholdsFrom,
        holders: g.holders.map((x) => ({ label: x.label, kind: x.kind, vramMiB: toMiB(x.bytes) })),
        spark: g.sparkline.map((v) => (Number.isFinite(v) ? toMiB(v) : null)),
      })),
    })),
    errors: [
      ...snapshot.sources.flatMap((s) => (s.ok ? [] : [{ source: s.source, error: s.error }])),
      // GPUs a source answered with but whose figures cannot be shown: said, never dropped silently.
      ...snapshot.leftOut.map((l) => ({ source: l.source, error: `${l.host} GPU ${l.gpu} left out: ${l.reason}` })),
    ],
  };
}
