import type { EventEmitter } from 'node:events';

/**
 * Where finished entries go: in the process that writes the output, the file writer, the forwarder or both
 * (tee.ts); in a worker, the batcher of its lines pipe. Entries are whole lines, each ending in "\n"; one call
 * may carry many.
 */
export interface EntrySink extends EventEmitter {
  /**
   * Takes `count` entries as UTF-8 bytes (whole lines). `lines` is valid during the call only (the caller
   * writes its next lines into the same memory), so a sink copies what it keeps. Returns false once the sink
   * holds more than it wants: the caller should pause its inputs until the sink emits 'drain'. Entries are never
   * dropped either way.
   */
  write(lines: Buffer, count: number): boolean;
}
