/**
 * One TCP connection from a SocketHandler: bytes → frame reader → line maker → sink.
 *
 * The lines made from one socket read go to the sink in one call, in order. When the sink is full the socket
 * is paused (the kernel's buffers, then the client, hold the rest) and resumed on the sink's 'drain'. A
 * refused frame is counted and reported, and the connection goes on with the next frame; a length prefix over
 * the limit closes the connection, since framing is lost after it.
 */
import type { Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { FrameReader, FrameTooLarge } from './frames';
import { noteFrame } from './after-burst';
import { readInto } from '../net/read-into';
import { LineBuffer } from '../format/line-buffer';
import { RefusedRecord, type RefusalCode, type RejectedFrame } from '../core/refusals';
import { newInputStats } from '../core/stats';
import { refuse } from './refuse';
import type { LineMaker } from '../decode/record';
import type { EntrySink } from '../sink/sink';
import type { Reporter } from '../core/report';
import type { ClientField, ClientIdentity } from '../format/client-field';
import { identify, isTlsError } from '../net/tls';

/** Bytes a socket read takes at most: what libuv asks for by default. */
const READ_BUFFER = 64 * 1024;

/** What the connections of one process share. */
export class ConnectionSet {
  readonly stats = newInputStats();
  /** Open connections, with their frame reader and when they last sent data. */
  private readonly open = new Map<Socket, { reader: FrameReader; lastData: number }>();
  private readonly paused = new Set<Socket>();
  /** Lines of the chunk being read; shared, since chunks are handled one at a time. */
  private readonly lines = new LineBuffer();
  /** What every connection reads into, one chunk at a time (see read-into.ts). */
  private readonly readBuffer = Buffer.allocUnsafe(READ_BUFFER);

  constructor(
    private readonly makeLine: LineMaker,
    private readonly sink: EntrySink,
    private readonly maxFrame: number,
    private readonly reporter: Reporter,
    /** Receives every refused frame (to keep it in the rejects file); none by default. */
    private readonly onReject: ((r: RejectedFrame) => void) | null = null,
    /** --client-field: who sent it, added to every line. */
    private readonly clientField: ClientField | null = null,
  ) {
    sink.on('drain', () => {
      for (const s of this.paused) s.resume();
      this.paused.clear();
    });
  }

  /** Serves one accepted socket (plain, or TLS once its handshake is done) until it closes. */
  serve(socket: Socket, who?: ClientIdentity): void {
    const client = `${socket.remoteAddress}:${socket.remotePort}`;
    const field = this.clientField;
    const fragment = field === null ? null : field.fragment(who ?? identify(socket, 'tcp'));
    const reader = new FrameReader(this.maxFrame);
    const stats = this.stats;
    const state = { reader, lastData: Date.now() };
    this.open.set(socket, state);
    stats.connectionsTotal++;
    const lines = this.lines;
    let batchCount = 0;
    const onFrame = (payload: Buffer) => {
      stats.received++;
      noteFrame(payload.length);
      try {
        const start = lines.length;
        this.makeLine(payload, lines);
        if (fragment !== null) field!.add(lines, start, fragment);
        batchCount++;
      } catch (err) {
        if (!(err instanceof RefusedRecord)) throw err;
        this.refuse(err.code, client, err.message, payload);
      }
    };
    const onChunk = (chunk: Buffer) => {
      state.lastData = Date.now();
      stats.bytesIn += chunk.length;
      batchCount = 0;
      try {
        reader.push(chunk, onFrame);
      } catch (err) {
        if (!(err instanceof FrameTooLarge)) throw err;
        this.refuse(err.code, client, `${err.message}; closing the connection`, undefined, err.length);
        socket.destroy();
      }
      if (batchCount > 0 && !this.sink.write(lines.take(), batchCount)) {
        socket.pause();
        this.paused.add(socket);
      }
    };
    if (!readInto(socket, this.readBuffer, onChunk)) socket.on('data', onChunk);
    socket.on('error', (err: NodeJS.ErrnoException) => {
      // ECONNRESET and the like: the client went away; 'close' follows. A TLS stream that breaks (bytes that are
      // not TLS records, a record that does not decrypt) is said: its connection ends here.
      // (Node sends the TLS alert but leaves the connection open: it is closed here.)
      if (!isTlsError(err)) return;
      this.refuse(
        'tls-bad-record',
        client,
        `the TLS stream broke after the handshake (${err.code}); closing it`,
        undefined,
        undefined,
        'a connection',
      );
      socket.destroy();
    });
    socket.on('close', () => {
      if (reader.inFrame) {
        const { length, bytes } = reader.partial();
        this.refuse(
          'truncated-frame',
          client,
          `connection closed inside a frame (${reader.pendingBytes} bytes of it received)`,
          bytes,
          length >= 0 ? length : undefined,
        );
      }
      this.open.delete(socket);
      this.paused.delete(socket);
    });
  }

  /** Connections open now. */
  get size(): number {
    return this.open.size;
  }

  private refuse(reason: RefusalCode, client: string, detail: string, payload?: Buffer, length?: number, what = 'a frame'): void {
    refuse(this.stats, this.reporter, this.onReject, what, { client, reason, detail, length, frame: payload?.toString('base64') });
  }

  /**
   * Stops serving: every connection is read until its client closes it, or it has been quiet for `quietMs`
   * with no partial frame (so every byte that reached the server has been read), or `timeoutMs` passes.
   * Then the rest are closed.
   */
  async drain(timeoutMs: number, quietMs = 250): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.open.size > 0) {
      const now = Date.now();
      for (const [socket, { reader, lastData }] of this.open) {
        const quiet = !reader.inFrame && now - lastData >= quietMs && !this.paused.has(socket);
        if (quiet || now >= deadline) socket.destroy();
      }
      await sleep(25);
    }
  }
}
