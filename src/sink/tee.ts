/**
 * Two sinks as one: every write goes to both (the target file and the forwarder). write() returns false while
 * either is full, and 'drain' follows once both have room again.
 */
import { EventEmitter } from 'node:events';
import type { EntrySink } from './sink';

export class TeeSink extends EventEmitter implements EntrySink {
  private readonly full = [false, false];
  private needDrain = false;

  constructor(private readonly sinks: [EntrySink, EntrySink]) {
    super();
    sinks.forEach((s, i) =>
      s.on('drain', () => {
        this.full[i] = false;
        if (this.needDrain && !this.full[0] && !this.full[1]) {
          this.needDrain = false;
          this.emit('drain');
        }
      }),
    );
  }

  write(lines: Buffer, count: number): boolean {
    for (let i = 0; i < 2; i++) if (!this.sinks[i].write(lines, count)) this.full[i] = true;
    if (this.full[0] || this.full[1]) this.needDrain = true;
    return !this.needDrain;
  }
}
