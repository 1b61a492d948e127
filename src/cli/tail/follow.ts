/**
 * `--follow`: reads what is appended to the file, and keeps up when it is rotated (renamed, and a new file
 * created at the path — log-server's own rotation, or logrotate then SIGHUP) or truncated (copytruncate).
 *
 * The path is checked on every change inotify reports in its directory, and every 100 ms: a different inode means a new file — the old one is read to its end, then
 * the new one from its start. The old file stays open and is still read for a few seconds, because a writer may
 * finish its last batch there after the new file appeared (logrotate's `create` makes the new file before the
 * SIGHUP). A size smaller than what was read means the file was truncated: reading starts again at 0.
 */
import { promises as fsp, watch, type FSWatcher } from 'node:fs';
import { basename, dirname } from 'node:path';
import type { FileHandle } from 'node:fs/promises';

const POLL_MS = 100;
/** How long a replaced file is still read. */
const RETIRE_MS = 5000;
const CHUNK = 1024 * 1024;

interface Open {
  fh: FileHandle;
  ino: number;
  offset: number;
  partial: Buffer;
}

export class Follower {
  private current: Open | null = null;
  private retired: (Open & { until: number })[] = [];
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;
  private polling = false;
  private again = false;
  private watcher: FSWatcher | null = null;
  private readonly buf = Buffer.allocUnsafe(CHUNK);

  /** `onLines` gets complete lines (without "\n"); it may return a promise to hold reading (backpressure). */
  constructor(
    readonly path: string,
    private readonly onLines: (lines: string[]) => void | Promise<void>,
  ) {}

  /** Starts following from `offset` of the file already open as `fh` (or, with null, the path from its start). */
  start(fh: FileHandle | null, ino: number, offset: number): void {
    if (fh !== null) this.current = { fh, ino, offset, partial: Buffer.alloc(0) };
    try {
      // inotify on the directory: a write, a rename or a new file at the path is read at once, so that a file
      // rotated soon after it was created is still seen; the timer is the fallback (network file systems).
      this.watcher = watch(dirname(this.path), (_event, name) => {
        if (name === null || name === basename(this.path)) this.kick();
      });
      this.watcher.on('error', () => {});
    } catch {
      this.watcher = null;
    }
    this.kick();
  }

  /** Polls now (or right after the poll under way), then every POLL_MS. */
  private kick(): void {
    if (this.stopped) return;
    if (this.polling) {
      this.again = true;
      return;
    }
    if (this.timer) clearTimeout(this.timer);
    this.polling = true;
    this.poll()
      .catch(() => {
        // A file that vanished between the stat and the read: the next poll sees the new state.
      })
      .finally(() => {
        this.polling = false;
        if (this.stopped) return;
        if (this.again) {
          this.again = false;
          this.kick();
        } else this.timer = setTimeout(() => this.kick(), POLL_MS);
      });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.watcher?.close();
    if (this.timer) clearTimeout(this.timer);
    for (const o of [this.current, ...this.retired]) await o?.fh.close().catch(() => {});
  }

  private async poll(): Promise<void> {
    if (this.current) await this.drain(this.current);
    const now = Date.now();
    for (const r of this.retired) await this.drain(r);
    for (const r of this.retired.filter((x) => x.until <= now)) await r.fh.close().catch(() => {});
    this.retired = this.retired.filter((x) => x.until > now);

    let st;
    try {
      st = await fsp.stat(this.path);
    } catch {
      return; // moved away and not created again yet: keep reading the old file
    }
    if (this.current === null || st.ino !== this.current.ino) {
      const fh = await fsp.open(this.path, 'r');
      const ino = (await fh.stat()).ino;
      if (this.current) {
        await this.drain(this.current);
        this.retired.push({ ...this.current, until: now + RETIRE_MS });
      }
      this.current = { fh, ino, offset: 0, partial: Buffer.alloc(0) };
      await this.drain(this.current);
    } else if (st.size < this.current.offset) {
      this.current.offset = 0; // truncated in place
      this.current.partial = Buffer.alloc(0);
      await this.drain(this.current);
    }
  }

  /** Reads `o` from its offset to its end and hands on the complete lines. */
  private async drain(o: Open): Promise<void> {
    for (;;) {
      const { bytesRead } = await o.fh.read(this.buf, 0, CHUNK, o.offset);
      if (bytesRead === 0) return;
      o.offset += bytesRead;
      const data = o.partial.length > 0 ? Buffer.concat([o.partial, this.buf.subarray(0, bytesRead)]) : this.buf.subarray(0, bytesRead);
      const lastNl = data.lastIndexOf(0x0a);
      if (lastNl === -1) {
        o.partial = Buffer.from(data);
        continue;
      }
      o.partial = Buffer.from(data.subarray(lastNl + 1));
      const lines = data.subarray(0, lastNl).toString('utf8').split('\n');
      await this.onLines(lines);
    }
  }
}
