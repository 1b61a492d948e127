/** Small numeric and formatting helpers shared by loadtest.ts and bench.ts. */

/** Nearest-rank percentile of an ascending array (q in 0..100). */
export function percentile(sorted: ArrayLike<number>, q: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.ceil((q / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))];
}

export function median(values: number[]): number {
  const v = values.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return NaN;
  const m = v.length >> 1;
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
}

/** 123456.7 → "123,457". */
export function int(n: number | null | undefined): string {
  if (n === null || n === undefined || !Number.isFinite(n)) return '–';
  return Math.round(n).toLocaleString('en-US');
}

export function fixed(n: number | null | undefined, digits = 1): string {
  if (n === null || n === undefined || !Number.isFinite(n)) return '–';
  return n.toFixed(digits);
}

export const MB = 1e6;
export const MiB = 1024 * 1024;

/** Renders rows as an aligned text table (first row = header). */
export function textTable(rows: string[][], rightAlignFrom = 1): string {
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => (r[c] ?? '').length)));
  const line = (r: string[]) =>
    r
      .map((cell, c) => (c >= rightAlignFrom ? cell.padStart(widths[c]) : cell.padEnd(widths[c])))
      .join('  ')
      .trimEnd();
  return [line(rows[0]), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.slice(1).map(line)].join('\n');
}

/** Renders rows as a GitHub markdown table (first row = header). */
export function markdownTable(rows: string[][], rightAlignFrom = 1): string {
  const esc = (s: string) => s.replace(/\|/g, '\\|');
  const head = `| ${rows[0].map(esc).join(' | ')} |`;
  const sep = `|${rows[0].map((_, c) => (c >= rightAlignFrom ? '---:' : ':---')).join('|')}|`;
  return [head, sep, ...rows.slice(1).map((r) => `| ${r.map(esc).join(' | ')} |`)].join('\n');
}
