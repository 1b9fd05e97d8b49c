/** How the dashboard writes sizes, times and durations. */

/** "3.6 GiB" from 3686.4 MiB; "512 MiB" below 1 GiB. */
export function formatSizeFromMiB(mib: number | null): string {
  if (mib === null || !Number.isFinite(mib)) return 'N/A';
  if (Math.abs(mib) >= 1024) return `${(mib / 1024).toFixed(mib >= 10240 ? 1 : 2)} GiB`;
  return `${Math.round(mib)} MiB`;
}

export function formatWholeMiB(mib: number | null): string {
  return mib === null ? 'N/A' : `${Math.round(mib)} MiB`;
}

export function formatPercent(p: number | null): string {
  return p === null ? '—' : `${p.toFixed(p < 10 ? 1 : 0)}%`;
}

const pad = (n: number) => String(n).padStart(2, '0');

/** "07:14:57" today; "10-31 07:14:57" another day. */
export function formatTime(t: number, now: number = Date.now()): string {
  const d = new Date(t);
  const hms = `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  const n = new Date(now);
  if (d.getFullYear() === n.getFullYear() && d.getMonth() === n.getMonth() && d.getDate() === n.getDate()) return hms;
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${hms}`;
}
