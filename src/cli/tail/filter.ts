/**
 * Which entries `log-server tail` shows: --level (that level and above), --name (a glob on the logger name),
 * --grep (text anywhere in what is printed), --since (a duration back from now, or a date and time).
 */
import { formatEntry, levelNumber, levelOf, parseEntry, type Entry } from './format';

export interface FilterOptions {
  level?: string;
  name?: string;
  grep?: string;
  since?: string;
}

export interface Filter {
  /** Whether the line is shown. Lines that are not JSON pass unless a filter needs a field. */
  matches(line: string, entry: Entry | null): boolean;
  /** `created` (seconds) before which entries are not shown, or null. */
  readonly sinceSeconds: number | null;
  /** Whether any filter needs the parsed entry. */
  readonly needsEntry: boolean;
}

/** An error in a filter option: printed as one line, exit 2. */
export class UsageError extends Error {}

/** `app.*` → /^app\..*$/: `*` any characters (dots too), `?` one. */
export function globToRegExp(glob: string): RegExp {
  const body = glob
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '.*')
    .replace(/\?/g, '.');
  return new RegExp(`^${body}$`);
}

const UNIT_MS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** "10m", "2h", "1d", "30s" back from `now`; or a date/time ("2026-11-25 14:00", ISO 8601) in local time. */
export function parseSince(value: string, now = Date.now()): number {
  const m = /^(\d+(?:\.\d+)?)\s*([smhd])$/.exec(value.trim());
  if (m) return now - Number(m[1]) * UNIT_MS[m[2]];
  const t = Date.parse(value.trim().replace(' ', 'T'));
  if (Number.isNaN(t))
    throw new UsageError(`--since must be a duration (30s, 10m, 2h, 1d) or a date and time (2026-11-25 14:00), not ${value}`);
  return t;
}

export function makeFilter(o: FilterOptions, now = Date.now()): Filter {
  let minLevel: number | null = null;
  if (o.level !== undefined) {
    minLevel = levelNumber(o.level);
    if (minLevel === null) throw new UsageError(`--level must be DEBUG, INFO, WARNING, ERROR, CRITICAL or a number, not ${o.level}`);
  }
  const nameRe = o.name !== undefined ? globToRegExp(o.name) : null;
  const sinceSeconds = o.since !== undefined ? parseSince(o.since, now) / 1000 : null;
  const grep = o.grep;
  const needsEntry = minLevel !== null || nameRe !== null || sinceSeconds !== null;
  return {
    sinceSeconds,
    needsEntry,
    matches(line, entry) {
      if (entry === null) {
        if (needsEntry) return false;
        return grep === undefined || line.includes(grep);
      }
      if (minLevel !== null && levelOf(entry) < minLevel) return false;
      if (nameRe !== null && !(typeof entry.name === 'string' && nameRe.test(entry.name))) return false;
      if (sinceSeconds !== null && !(typeof entry.created === 'number' && entry.created >= sinceSeconds)) return false;
      if (grep !== undefined && !formatEntry(entry, false).includes(grep)) return false;
      return true;
    },
  };
}

export { parseEntry };
