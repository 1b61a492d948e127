/**
 * The UDP input, for DatagramHandler: every datagram is one SocketHandler frame (4-byte big-endian length, then
 * the pickle), so each goes through the same line maker as a TCP frame and its line to the same sink.
 *
 * UDP cannot be paused: a datagram the server does not read stays in the kernel's receive buffer until that is
 * full, then the kernel drops new ones without telling anyone. So this input always reads. Lines made while
 * the sink is full are still handed to it (it keeps them), up to another `maxBuffer` bytes; past that,
 * datagrams are read and dropped, counted as `overflow`, until the sink drains. The lines of the datagrams
 * read in one turn of the event loop go to the sink in one write.
 */
import * as dgram from 'node:dgram';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { LineBuffer } from '../format/line-buffer';
import { listenError, formatAddress } from '../net/listen';
import { refuse, type OnReject } from './refuse';
import { warmUp } from './warm-up';
import { clientAddress, type Admit } from '../net/access';
import type { ClientField } from '../format/client-field';
import type { LineMaker } from '../decode/record';
import type { EntrySink } from '../sink/sink';
import type { Reporter } from '../core/report';
import { RefusedRecord, type RefusalCode } from '../core/refusals';
import { newInputStats } from '../core/stats';

export interface DatagramInputOptions {
  makeLine: LineMaker;
  sink: EntrySink;
  /** Largest pickle accepted (--max-frame). */
  maxFrame: number;
  /** Bytes of lines this input may add while the sink is full before it drops datagrams (--max-buffer). */
  maxBuffer: number;
  /** Receive buffer asked of the kernel (--udp-buffer). */
  recvBuffer: number;
  reporter: Reporter;
  onReject: OnReject;
  admit: Admit;
  /** --client-field: who sent it, added to every line (made per datagram). */
  clientField?: ClientField | null;
}

export class DatagramInput {
  readonly stats = newInputStats();
  private readonly lines = new LineBuffer();
  private pendingCount = 0;
  private flushScheduled = false;
  /** The sink said it is full and has not drained since; `overflowBytes` were handed to it meanwhile. */
  private sinkFull = false;
  private overflowBytes = 0;
  private lastMessage = 0;
  private closed = false;

  private constructor(
    private readonly socket: dgram.Socket,
    private readonly o: DatagramInputOptions,
  ) {
    o.sink.on('drain', () => {
      this.sinkFull = false;
      this.overflowBytes = 0;
    });
    socket.on('message', (msg, rinfo) => this.onMessage(msg, rinfo));
    socket.on('error', (err) => o.reporter.warn('udp-error', `UDP socket error: ${err.message}`));
  }

  /** Binds `host:port` (IPv6 socket when `family` is IPv6; it takes IPv4 too when bound to `::`). */
  static bind(host: string, port: number, family: string, o: DatagramInputOptions): Promise<DatagramInput> {
    warmUp(o.makeLine);
    const socket = dgram.createSocket({ type: family === 'IPv6' ? 'udp6' : 'udp4', recvBufferSize: o.recvBuffer });
    return new Promise((resolve, reject) => {
      socket.once('error', (err: NodeJS.ErrnoException) => {
        socket.close();
        const failure = listenError(`udp ${host}:${port}`, err);
        reject(failure);
      });
      socket.bind({ address: host, port, exclusive: true }, () => {
        socket.removeAllListeners('error');
        resolve(new DatagramInput(socket, o));
      });
    });
  }

  get address(): AddressInfo {
    return this.socket.address();
  }

  /** The receive buffer the kernel granted, in the bytes asked for (Linux reports twice that, its bookkeeping
   * included, and caps it at net.core.rmem_max). */
  get recvBufferSize(): number {
    const reported = this.socket.getRecvBufferSize();
    return process.platform === 'linux' ? reported / 2 : reported;
  }

  /** "udp 127.0.0.1:9020 (receive buffer 4194304 bytes)", with a hint when the kernel granted less than asked. */
  describe(): string {
    const got = this.recvBufferSize;
    const capped =
      got < this.o.recvBuffer
        ? `, not the ${this.o.recvBuffer} asked: raise net.core.rmem_max (sysctl -w net.core.rmem_max=${this.o.recvBuffer})`
        : '';
    return `udp ${formatAddress(this.address)} (receive buffer ${got} bytes${capped})`;
  }

  private onMessage(msg: Buffer, rinfo: dgram.RemoteInfo): void {
    this.lastMessage = Date.now();
    const client = rinfo; // formatted only for a refusal
    this.stats.received++;
    this.stats.bytesIn += msg.length;
    if (!this.o.admit(rinfo.address)) return this.refuse({ client, reason: 'not-allowed', detail: 'not in --allow' });
    const announced = msg.length >= 4 ? msg.readUInt32BE(0) : -1;
    if (announced !== msg.length - 4) {
      if (announced > this.o.maxFrame) {
        return this.refuse({
          client,
          reason: 'frame-too-large',
          detail: `frame of ${announced} bytes is over the ${this.o.maxFrame}-byte limit`,
          length: announced,
        });
      }
      const detail =
        announced < 0
          ? `datagram of ${msg.length} bytes is shorter than a length prefix`
          : `datagram of ${msg.length} bytes announces a ${announced}-byte pickle, not ${msg.length - 4}`;
      return this.refuse({
        client,
        reason: 'bad-datagram',
        detail,
        length: announced < 0 ? undefined : announced,
        frame: msg.toString('base64'),
      });
    }
    const payload = msg.subarray(4);
    if (payload.length > this.o.maxFrame) {
      return this.refuse({
        client,
        reason: 'frame-too-large',
        detail: `frame of ${payload.length} bytes is over the ${this.o.maxFrame}-byte limit`,
        length: payload.length,
      });
    }
    if (this.sinkFull && this.overflowBytes > this.o.maxBuffer) {
      return this.refuse({
        client,
        reason: 'overflow',
        detail: `the writer is behind and ${this.overflowBytes} bytes of UDP lines wait for it; datagram dropped`,
      });
    }
    const before = this.lines.length;
    try {
      this.o.makeLine(payload, this.lines);
      const field = this.o.clientField;
      if (field)
        field.add(
          this.lines,
          before,
          field.fragment({ address: clientAddress(rinfo.address), port: rinfo.port, input: 'udp', tls: false }),
        );
    } catch (err) {
      if (!(err instanceof RefusedRecord)) throw err;
      return this.refuse({ client, reason: err.code, detail: err.message, frame: payload.toString('base64') });
    }
    this.pendingCount++;
    if (this.sinkFull) this.overflowBytes += this.lines.length - before;
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(() => this.flush());
    }
  }

  private refuse(r: { client: dgram.RemoteInfo; reason: RefusalCode; detail: string; length?: number; frame?: string }): void {
    const { address, family, port } = r.client;
    const client = family === 'IPv6' ? `[${address}]:${port}` : `${address}:${port}`;
    refuse(this.stats, this.o.reporter, this.o.onReject, 'a datagram', { ...r, client, input: 'udp' });
  }

  /** Hands the lines made so far to the sink, in one write. */
  private flush(): void {
    this.flushScheduled = false;
    if (this.pendingCount === 0) return;
    const count = this.pendingCount;
    this.pendingCount = 0;
    if (!this.o.sink.write(this.lines.take(), count)) this.sinkFull = true;
  }

  /**
   * Stops: reads on until no datagram has come for `quietMs` (what the kernel had queued is taken), at most
   * `maxMs`, then closes the socket and hands the last lines to the sink.
   */
  async close(quietMs = 100, maxMs = 2000): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const started = Date.now();
    while (Date.now() - Math.max(started, this.lastMessage) < quietMs && Date.now() - started < maxMs) await sleep(10);
    await new Promise<void>((resolve) => this.socket.close(() => resolve()));
    this.flush();
  }
}
