/** How VRAM Guard writes a length of time: "50 ms", "1.5 s", "4 m 12 s", "10 h 50 m", "3 d 2 h". */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 59_950) return `${Number((ms / 1000).toFixed(1))} s`;
  const s = Math.round(ms / 1000);
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} m${s % 60 ? ` ${s % 60} s` : ''}`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h} h${m % 60 ? ` ${m % 60} m` : ''}`;
  const d = Math.floor(h / 24);
  return `${d} d${h % 24 ? ` ${h % 24} h` : ''}`;
}

/** "90s", "2m", "1h", "500ms", "1m30s" or a bare number of seconds → milliseconds; an error sentence for anything else. */
export function parseDuration(text: string): { ms: number } | { error: string } {
  const t = text.trim();
  if (/^\d+(\.\d+)?$/.test(t)) return { ms: Number(t) * 1000 };
  const unit: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
  const parts = [...t.matchAll(/(\d+(?:\.\d+)?)\s*(ms|s|m|h)/g)];
  if (!/^(\d+(\.\d+)?\s*(ms|s|m|h)\s*)+$/.test(t)) return { error: `"${text}" is not a duration such as 90s, 2m or 1h` };
  return { ms: parts.reduce((sum, p) => sum + Number(p[1]) * (unit[p[2] ?? 's'] ?? 1000), 0) };
}
