/**
 * Pure parsers of option values: sizes ("100M") and intervals ("daily", "30s"). No I/O, nothing of the server.
 */

export interface Interval {
  /** As given: "daily", "hourly", "30s" … */
  name: string;
  kind: 'daily' | 'hourly' | 'fixed';
  /** Length in ms (daily and hourly: nominal). */
  ms: number;
}

const UNITS: Record<string, number> = {
  '': 1,
  b: 1,
  k: 1024,
  kb: 1024,
  kib: 1024,
  m: 1024 ** 2,
  mb: 1024 ** 2,
  mib: 1024 ** 2,
  g: 1024 ** 3,
  gb: 1024 ** 3,
  gib: 1024 ** 3,
};

/** "100M", "1G", "512K", "4096" → bytes (binary units); NaN if not a size. */
export function parseSize(value: string | number): number {
  if (typeof value === 'number') return value;
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(value);
  const unit = m ? UNITS[m[2].toLowerCase()] : undefined;
  if (!m || unit === undefined) return NaN;
  return Math.floor(Number(m[1]) * unit);
}

/** "daily", "hourly", or a fixed interval "500ms", "30s", "5m", "2h" (periods aligned to multiples since the epoch). */
export function parseInterval(value: string): Interval | null {
  const v = value.trim().toLowerCase();
  if (v === 'daily') return { name: v, kind: 'daily', ms: 86_400_000 };
  if (v === 'hourly') return { name: v, kind: 'hourly', ms: 3_600_000 };
  const m = /^(\d+)(ms|s|m|h)$/.exec(v);
  if (!m || Number(m[1]) <= 0) return null;
  const ms = Number(m[1]) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] as 'ms' | 's' | 'm' | 'h'];
  return { name: v, kind: 'fixed', ms };
}
