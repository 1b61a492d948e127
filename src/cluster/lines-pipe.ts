/**
 * A worker's sink: batches finished entries and sends them to the primary, many per IPC message.
 *
 * Lines made within LINGER_MS go out together (or sooner, past BATCH_BYTES). The sink reports
 * itself full while too many messages are still on their way, or while the primary asked workers to pause
 * because its file writer is behind.
 */
import { EventEmitter } from 'node:events';
import type { EntrySink } from '../sink/sink';
import type { ToPrimary } from './messages';

const BATCH_BYTES = 256 * 1024;
/**
 * How long the first lines of a batch wait for more. Python clients send one record per packet, so batching by
 * turn of the event loop alone would send one IPC message per record; 2 ms gathers them at little latency.
 */
const LINGER_MS = 2;
const MAX_UNSENT = 8;

export class IpcSink extends EventEmitter implements EntrySink {
  private parts: Buffer[] = [];
  private count = 0;
  private bytes = 0;
  private scheduled = false;
  private unsent = 0;
  private primaryPaused = false;
  private full = false;
  private idleWaiters: (() => void)[] = [];

  constructor(private readonly send: (msg: ToPrimary, done: () => void) => void) {
    super();
  }

  write(lines: Buffer, count: number): boolean {
    this.parts.push(lines);
    this.count += count;
    this.bytes += lines.length;
    if (this.bytes >= BATCH_BYTES) this.flush();
    else if (!this.scheduled) {
      this.scheduled = true;
      setTimeout(() => this.flush(), LINGER_MS);
    }
    if (this.blocked()) this.full = true;
    return !this.full;
  }

  /** The primary's writer is behind (true) or has caught up (false). */
  setPrimaryPaused(paused: boolean): void {
    this.primaryPaused = paused;
    this.maybeDrain();
  }

  /** Sends what is batched now. */
  flush(): void {
    this.scheduled = false;
    if (this.count === 0) return;
    const msg: ToPrimary = { t: 'lines', lines: this.parts.length === 1 ? this.parts[0] : Buffer.concat(this.parts, this.bytes), count: this.count };
    this.parts = [];
    this.count = 0;
    this.bytes = 0;
    this.unsent++;
    this.send(msg, () => {
      this.unsent--;
      this.maybeDrain();
      if (this.unsent === 0) for (const resolve of this.idleWaiters.splice(0)) resolve();
    });
  }

  /** Flushes and resolves once every message has been handed to the IPC channel. */
  idle(): Promise<void> {
    this.flush();
    if (this.unsent === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private blocked(): boolean {
    return this.primaryPaused || this.unsent >= MAX_UNSENT;
  }

  private maybeDrain(): void {
    if (this.full && !this.blocked()) {
      this.full = false;
      this.emit('drain');
    }
  }
}
