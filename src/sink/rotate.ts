/**
 * Rotation of the target file, by size (`--max-size`) or time (`--rotate`), as Python's RotatingFileHandler and
 * TimedRotatingFileHandler name their files:
 *
 *   by size:  logs.txt → logs.txt.1 → logs.txt.2 → … → logs.txt.N (the oldest removed)
 *   by time:  logs.txt → logs.txt.2026-11-25 (daily), logs.txt.2026-11-25_14 (hourly); a second file of the same
 *             period (with --max-size too, or after a restart) gets .1, .2 …: logs.txt.2026-11-25.1
 *
 * The file writer (sink/file.ts) decides when, between two batches, and calls `moveAway()`: one rename, the
 * only step on the hot path. Everything else — shifting the numbered chain, gzip, removing the oldest — runs
 * here in the background, one step at a time, and is redone at the next start if a crash cut it short:
 *
 * - by size the live file is first renamed to `<target>.pending-<ms>-<seq>`; the background then gzips it (if
 *   asked), shifts .1… up by one and renames it to .1;
 * - gzip writes `<name>.gz.tmp`, fsyncs it, renames it to `<name>.gz`, and only then removes `<name>`: a crash
 *   at any point leaves the uncompressed file (or a complete .gz), never neither.
 */
import * as fs from 'node:fs';
import { promises as fsp } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import type { Reporter } from '../core/report';
import { pad2 } from '../format/time';
import type { Interval } from '../config/parse';

export interface RotationOptions {
  /** Rotate before a line would take the file past this many bytes. */
  maxSize?: number;
  /** Rotate at the first write of a new period. */
  interval?: Interval;
  /** Rotated files kept (not counting the live file); older ones are removed. */
  maxFiles: number;
  /** Gzip rotated files (in the background). */
  compress: boolean;
  /** Periods and date suffixes in UTC instead of local time. */
  utc: boolean;
}

/** Start (ms since the epoch) of the period that holds `t`. */
export function periodStart(interval: Interval, t: number, utc: boolean): number {
  if (interval.kind === 'fixed') return Math.floor(t / interval.ms) * interval.ms;
  const d = new Date(t);
  if (interval.kind === 'daily')
    return utc
      ? Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate())
      : new Date(d.getFullYear(), d.getMonth(), d.getDate()).getTime();
  return utc
    ? Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate(), d.getUTCHours())
    : new Date(d.getFullYear(), d.getMonth(), d.getDate(), d.getHours()).getTime();
}

/** The date suffix of a period, as TimedRotatingFileHandler writes it: %Y-%m-%d, %Y-%m-%d_%H, _%H-%M, _%H-%M-%S. */
export function periodSuffix(interval: Interval, start: number, utc: boolean): string {
  const d = new Date(start);
  const [y, mo, day, h, mi, s] = utc
    ? [d.getUTCFullYear(), d.getUTCMonth() + 1, d.getUTCDate(), d.getUTCHours(), d.getUTCMinutes(), d.getUTCSeconds()]
    : [d.getFullYear(), d.getMonth() + 1, d.getDate(), d.getHours(), d.getMinutes(), d.getSeconds()];
  const date = `${String(y).padStart(4, '0')}-${pad2(mo)}-${pad2(day)}`;
  if (interval.kind === 'daily') return date;
  if (interval.kind === 'hourly' || interval.ms % 3_600_000 === 0) return `${date}_${pad2(h)}`;
  if (interval.ms % 60_000 === 0) return `${date}_${pad2(h)}-${pad2(mi)}`;
  return `${date}_${pad2(h)}-${pad2(mi)}-${pad2(s)}`;
}

const escapeRe = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const DATE_SUFFIX = String.raw`\d{4}-\d{2}-\d{2}(?:_\d{2}(?:-\d{2}(?:-\d{2})?)?)?`;

export class Rotator {
  private background: Promise<void> = Promise.resolve();
  private seq = 0;
  private readonly dir: string;
  private readonly name: string;

  constructor(
    readonly path: string,
    readonly options: RotationOptions,
    private readonly reporter: Reporter,
  ) {
    this.dir = dirname(path);
    this.name = basename(path);
  }

  /** Finishes what a crash (or a stop) left undone: pending renames, compressions, the oldest files. */
  recover(): void {
    this.enqueue(async () => {
      const names = await fsp.readdir(this.dir);
      for (const n of names) if (n.startsWith(this.name + '.') && n.endsWith('.gz.tmp')) await unlinkQuiet(join(this.dir, n));
      // Pending files, oldest first, whether the crash came before or after their gzip.
      const pendingRe = new RegExp(`^(${escapeRe(this.name)}\\.pending-\\d+-\\d+)(?:\\.gz)?$`);
      const pending = new Set(names.map((x) => pendingRe.exec(x)?.[1]).filter((x) => x !== undefined));
      for (const n of [...pending].sort()) await this.finishPending(join(this.dir, n));
      if (this.options.compress) {
        for (const stem of await this.rotatedStems()) await this.compress(join(this.dir, stem));
      }
      await this.removeOldest();
    });
  }

  /**
   * The hot-path step: renames the live file out of the way (the caller then opens a new one at the path).
   * `fileStart` is the start of the period the live file belongs to (time-based naming). Resolves with the
   * name it was given, for `afterMove`.
   */
  async moveAway(fileStart: number): Promise<string> {
    let to: string;
    if (this.options.interval) {
      to = await this.freeDatedName(periodSuffix(this.options.interval, fileStart, this.options.utc));
    } else {
      to = `${this.path}.pending-${Date.now()}-${String(this.seq++).padStart(6, '0')}`;
    }
    await fsp.rename(this.path, to);
    return to;
  }

  /** Background work for a file `moveAway` moved, once `closed` (the writer's fsync and close of it) settles. */
  afterMove(moved: string, closed: Promise<void>): void {
    this.enqueue(async () => {
      await closed;
      if (this.options.interval) {
        if (this.options.compress) await this.compress(moved);
        await this.removeOldest();
      } else {
        await this.finishPending(moved);
      }
    });
  }

  /** Resolves once the background work queued so far is done. */
  idle(): Promise<void> {
    return this.background;
  }

  private enqueue(step: () => Promise<void>): void {
    this.background = this.background.then(step).catch((err: unknown) => {
      this.reporter.warn('rotate-error', `rotating ${this.path}: ${(err as Error).message}`);
    });
  }

  /** Numbered chain: gzip the pending file (if asked), shift .1… up, rename it to .1 (or .1.gz). */
  private async finishPending(pending: string): Promise<void> {
    let from = pending;
    if (this.options.compress) from = (await this.compress(pending)) ?? pending;
    if (!fs.existsSync(from) && fs.existsSync(`${pending}.gz`)) from = `${pending}.gz`; // gzipped before a crash
    const gz = from.endsWith('.gz') ? '.gz' : '';
    if (!fs.existsSync(from)) return;
    // Shift only when .1 is taken: after a crash between the shift and the last rename, .1 is already free.
    if (fs.existsSync(`${this.path}.1`) || fs.existsSync(`${this.path}.1.gz`)) {
      // Only the files that exist (one readdir), highest first; those at or past max-files are removed.
      const n = this.options.maxFiles;
      const re = new RegExp(`^${escapeRe(this.name)}\\.(\\d+)(\\.gz)?$`);
      const found: [number, string][] = [];
      for (const name of await fsp.readdir(this.dir)) {
        const m = re.exec(name);
        if (m) found.push([Number(m[1]), m[2] ?? '']);
      }
      found.sort((a, b) => b[0] - a[0]);
      for (const [k, ext] of found) {
        if (k >= n) await unlinkQuiet(`${this.path}.${k}${ext}`);
        else await renameQuiet(`${this.path}.${k}${ext}`, `${this.path}.${k + 1}${ext}`);
      }
    }
    await fsp.rename(from, `${this.path}.1${gz}`);
  }

  /**
   * Gzips `file` to `file.gz` (via `.gz.tmp`, fsynced, renamed), then removes `file`. Returns the .gz path, or
   * null if there was nothing to do. If `file.gz` already exists, a crash came between its rename and the unlink.
   */
  private async compress(file: string): Promise<string | null> {
    const gz = `${file}.gz`;
    if (file.endsWith('.gz') || !fs.existsSync(file)) return null;
    if (!fs.existsSync(gz)) {
      const tmp = `${gz}.tmp`;
      await pipeline(fs.createReadStream(file), createGzip(), fs.createWriteStream(tmp, { mode: 0o644 }));
      const fh = await fsp.open(tmp, 'r');
      try {
        await fh.sync();
      } finally {
        await fh.close();
      }
      await fsp.rename(tmp, gz);
    }
    await fsp.unlink(file);
    return gz;
  }

  /** `<target>.<suffix>`, or with .1, .2 … if that period already has a file. */
  private async freeDatedName(suffix: string): Promise<string> {
    for (let k = 0; ; k++) {
      const candidate = `${this.path}.${suffix}${k === 0 ? '' : `.${k}`}`;
      if (!fs.existsSync(candidate) && !fs.existsSync(`${candidate}.gz`)) return candidate;
    }
  }

  /** Rotated files without their .gz, oldest first. */
  private async rotatedStems(): Promise<string[]> {
    const names = await fsp.readdir(this.dir);
    const stems = new Set<string>();
    const base = escapeRe(this.name);
    if (this.options.interval) {
      const re = new RegExp(`^(${base}\\.${DATE_SUFFIX}(?:\\.\\d+)?)(?:\\.gz)?$`);
      for (const n of names) {
        const m = re.exec(n);
        if (m) stems.add(m[1]);
      }
      const key = (s: string) => {
        const m = /^(.*?)(?:\.(\d+))?$/.exec(s.slice(this.name.length + 1))!;
        return [m[1], Number(m[2] ?? 0)] as const;
      };
      return [...stems].sort((a, b) => {
        const [sa, na] = key(a);
        const [sb, nb] = key(b);
        return sa < sb ? -1 : sa > sb ? 1 : na - nb;
      });
    }
    const re = new RegExp(`^(${base}\\.(\\d+))(?:\\.gz)?$`);
    for (const n of names) {
      const m = re.exec(n);
      if (m) stems.add(m[1]);
    }
    const num = (s: string) => Number(s.slice(this.name.length + 1));
    return [...stems].sort((a, b) => num(b) - num(a));
  }

  private async removeOldest(): Promise<void> {
    const stems = await this.rotatedStems();
    for (const stem of stems.slice(0, Math.max(0, stems.length - this.options.maxFiles))) {
      await unlinkQuiet(join(this.dir, stem));
      await unlinkQuiet(join(this.dir, stem + '.gz'));
    }
  }
}

async function unlinkQuiet(path: string): Promise<void> {
  try {
    await fsp.unlink(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}

async function renameQuiet(from: string, to: string): Promise<void> {
  try {
    await fsp.rename(from, to);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}
