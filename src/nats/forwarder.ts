/**
 * The forwarder: an EntrySink that publishes every finished line to a NATS JetStream stream, one message per
 * record, and counts it delivered only once JetStream has acknowledged it.
 *
 * Lines wait in order in a bounded buffer (`highWaterMark` bytes; past it write() returns false and 'drain'
 * follows, as for the file writer: the inputs pause, nothing is dropped). Up to `window` publishes are in flight
 * at once, each with its own reply subject under one inbox subscription (no round trip per record). Every record
 * carries a Nats-Msg-Id unique to it (receiver id, start time, sequence), so a retry of a record that JetStream
 * had stored, but whose acknowledgement was lost, is dropped by the stream's duplicate window instead of stored
 * twice. On a timeout, an error reply or a lost connection the forwarder stops publishing, waits (100 ms,
 * doubling up to 2 s; at once on a reconnect) and resends every unacknowledged record in order: the first alone,
 * as a probe, the rest once it is acknowledged.
 */
import { EventEmitter } from 'node:events';
import { hostname } from 'node:os';
import { connect } from '@nats-io/transport-node';
import { createInbox, headers, type Msg, type NatsConnection } from '@nats-io/nats-core';
import { jetstreamManager, StorageType, DiscardPolicy, type StreamConfig } from '@nats-io/jetstream';
import type { EntrySink } from '../sink/sink';
import type { Reporter } from '../core/report';
import { loggerNameOf, parseSubjectTemplate, type SubjectTemplate } from '../config/subject';
import { ServerError } from '../core/errors';

export interface ForwardOptions {
  /** Comma-separated NATS URLs: nats://host1:4222,host2:4222. */
  servers: string;
  stream: string;
  /** Subject template, e.g. `logs.{name}`. */
  subject: string;
  /** Replicas of the stream when it is created. */
  replicas: number;
  /** Stream limits when it is created: 0 = unlimited. */
  maxAgeSec: number;
  maxBytes: number;
  /** JetStream's duplicate window when the stream is created, in seconds. */
  duplicateWindowSec: number;
  /** Buffered bytes above which write() returns false. */
  highWaterMark: number;
  /** Publishes awaiting their acknowledgement at most. */
  window?: number;
  /** An unacknowledged publish older than this is sent again, in ms. */
  ackTimeoutMs?: number;
  /** How often the status line is printed while forwarding, in ms (0: never). */
  statusIntervalMs?: number;
  reporter: Reporter;
}

/** The forwarder's numbers (for stderr lines and metrics). */
export interface ForwardStats {
  connected: boolean;
  /** The server the connection is on, "" while disconnected. */
  server: string;
  /** Records taken in, acknowledged (of which JetStream found duplicates), and waiting (in flight included). */
  accepted: number;
  acknowledged: number;
  duplicates: number;
  buffered: number;
  bufferedBytes: number;
  inFlight: number;
  /** Publishes sent, first tries and retries. */
  published: number;
  retried: number;
  /** Failed rounds: timeouts, error replies, lost connections. */
  failures: number;
  lastError: string;
  reconnects: number;
  /** Records larger than the NATS server's max_payload: never forwardable, counted and reported. */
  tooLarge: number;
}

/** The data of an entry no longer needed. */
const DONE = Buffer.alloc(0);

/** What a stop reports. */
export interface ForwardResult {
  stream: string;
  acknowledged: number;
  /** Records taken in but never acknowledged (the stop's wait ran out). */
  unacknowledged: number;
}

/** JetStream's error code for a message past the stream's max_msg_size. */
const MESSAGE_TOO_LARGE = 10054;

const DEFAULT_WINDOW = 4096;
const DEFAULT_ACK_TIMEOUT_MS = 5000;
const MAX_RETRY_MS = 2000;

interface Pending {
  seq: number;
  subject: string;
  data: Buffer;
  /** 0 waiting, 1 in flight, 2 acknowledged. */
  state: 0 | 1 | 2;
  sentAt: number;
}

export class NatsForwarder extends EventEmitter implements EntrySink {
  readonly stats: ForwardStats = {
    connected: false,
    server: '',
    accepted: 0,
    acknowledged: 0,
    duplicates: 0,
    buffered: 0,
    bufferedBytes: 0,
    inFlight: 0,
    published: 0,
    retried: 0,
    failures: 0,
    lastError: '',
    reconnects: 0,
    tooLarge: 0,
  };
  /** Records in order, `head` the first not yet acknowledged. */
  private queue: Pending[] = [];
  private head = 0;
  /** Index of the next record to publish. */
  private next = 0;
  private nextSeq = 1;
  private readonly idPrefix: string;
  private readonly inbox: string;
  private needDrain = false;
  private retryDelay = 0;
  /** While set, nothing is published: a failed round is settling or waiting for its retry. */
  private holding = false;
  /** After a failure, one record at a time until one is acknowledged: a retry against a server still down
   * costs one message, not a window of them. */
  private probing = false;
  private retryTimer: NodeJS.Timeout | null = null;
  private readonly ticker: NodeJS.Timeout;
  private idleWaiters: (() => void)[] = [];
  private closed = false;
  private maxPayload: number;
  private readonly window: number;
  private readonly ackTimeoutMs: number;
  private readonly subjects: SubjectTemplate;
  private lastStatusAt = Date.now();
  private ackedAtLastStatus = 0;

  private constructor(
    private readonly nc: NatsConnection,
    private readonly o: ForwardOptions,
  ) {
    super();
    this.subjects = parseSubjectTemplate(o.subject);
    this.window = o.window ?? DEFAULT_WINDOW;
    this.ackTimeoutMs = o.ackTimeoutMs ?? DEFAULT_ACK_TIMEOUT_MS;
    this.maxPayload = nc.info?.max_payload ?? 1024 * 1024;
    this.idPrefix = `${hostname()}-${process.pid}-${Date.now().toString(36)}-`;
    this.inbox = createInbox();
    this.stats.connected = true;
    this.stats.server = nc.getServer();
    this.subscribe();
    this.ticker = setInterval(() => this.tick(), 250);
    this.ticker.unref();
    void this.watchStatus();
  }

  /**
   * Connects (failing with a ServerError if no server answers within a few seconds), creates the stream if it
   * does not exist, and returns the forwarder.
   */
  static async open(o: ForwardOptions): Promise<NatsForwarder> {
    let subjects: SubjectTemplate;
    try {
      subjects = parseSubjectTemplate(o.subject);
    } catch (err) {
      throw new ServerError('LOGSERVER_ERR_NATS', (err as Error).message);
    }
    const servers = o.servers
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s !== '');
    let nc: NatsConnection;
    try {
      nc = await connect({
        servers,
        name: `log-server ${hostname()} ${process.pid}`,
        maxReconnectAttempts: -1,
        reconnectTimeWait: 250,
        reconnectJitter: 100,
        pingInterval: 5000,
        maxPingOut: 2,
        timeout: 5000,
      });
    } catch (err) {
      throw new ServerError('LOGSERVER_ERR_NATS', `cannot connect to ${o.servers}: ${(err as Error).message}`);
    }
    try {
      await ensureStream(nc, o, subjects.streamSubject);
    } catch (err) {
      await nc.close().catch(() => {});
      throw err instanceof ServerError
        ? err
        : new ServerError('LOGSERVER_ERR_NATS', `cannot set up stream ${o.stream} on ${o.servers}: ${(err as Error).message}`);
    }
    const f = new NatsForwarder(nc, o);
    o.reporter.info(`forwarding to stream ${o.stream} (subjects ${subjects.streamSubject}) on ${nc.getServer()}`);
    return f;
  }

  /** A short description for the listening line. */
  get description(): string {
    return `nats stream ${this.o.stream}`;
  }

  write(given: Buffer, count: number): boolean {
    // Each record is kept until acknowledged: one copy of the call's lines, and each record a view of it.
    const lines = Buffer.from(given);
    let start = 0;
    for (let n = 0; n < count; n++) {
      const end = lines.indexOf(0x0a, start);
      const stop = end < 0 ? lines.length : end;
      const name = loggerNameOf(lines, start, stop);
      this.queue.push({
        seq: this.nextSeq++,
        subject: this.subjects.subjectFor(name),
        data: lines.subarray(start, stop),
        state: 0,
        sentAt: 0,
      });
      this.stats.bufferedBytes += stop - start;
      start = stop + 1;
    }
    this.stats.accepted += count;
    this.stats.buffered += count;
    this.pump();
    if (this.stats.bufferedBytes > this.o.highWaterMark && !this.needDrain) {
      this.needDrain = true;
      this.o.reporter.warn(
        'forward-full',
        `${this.stats.buffered} records (${this.stats.bufferedBytes} bytes) wait for stream ${this.o.stream}, past --max-buffer: pausing the inputs until it catches up`,
      );
    }
    return !this.needDrain;
  }

  /** Resolves once every record taken so far is acknowledged. */
  idle(): Promise<void> {
    if (this.stats.buffered === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /**
   * Waits up to `timeoutMs` for the outstanding acknowledgements, then closes the connection. Returns how many
   * records were never acknowledged (0 when all were).
   */
  async close(timeoutMs: number): Promise<ForwardResult> {
    if (this.stats.buffered > 0) {
      this.o.reporter.info(
        `waiting up to ${timeoutMs} ms for ${this.stats.buffered} records to be acknowledged by stream ${this.o.stream}`,
      );
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([this.idle(), new Promise<void>((r) => (timer = setTimeout(r, timeoutMs)))]);
      clearTimeout(timer);
    }
    this.closed = true;
    clearInterval(this.ticker);
    if (this.retryTimer) clearTimeout(this.retryTimer);
    const missing = this.stats.buffered;
    // Bounded: closing a connection that is down and reconnecting may never finish.
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.nc.close().catch(() => {}), new Promise<void>((r) => (timer = setTimeout(r, 2000)))]);
    clearTimeout(timer);
    if (missing > 0)
      this.o.reporter.info(
        `${missing} records were not acknowledged by stream ${this.o.stream} (last error: ${this.stats.lastError || 'none'})`,
      );
    const st = this.stats;
    if (st.failures > 0 || st.tooLarge > 0) {
      this.o.reporter.info(
        [
          st.failures > 0
            ? `forwarding had ${st.failures} failed rounds (last: ${st.lastError}), ${st.reconnects} reconnects; ${st.retried} records sent again, ${st.duplicates} of them found already stored`
            : '',
          st.tooLarge > 0 ? `${st.tooLarge} records too large to forward` : '',
        ]
          .filter(Boolean)
          .join('; '),
      );
    }
    return { stream: this.o.stream, acknowledged: this.stats.acknowledged, unacknowledged: missing };
  }

  private subscribe(): void {
    this.nc.subscribe(`${this.inbox}.*`, { callback: (err, msg) => (err ? this.fail(err.message) : this.onAck(msg)) });
  }

  private pump(): void {
    if (this.holding || this.closed || !this.stats.connected) return;
    const now = Date.now();
    const limit = this.probing ? 1 : this.window;
    while (this.next < this.queue.length && this.stats.inFlight < limit) {
      const p = this.queue[this.next++];
      if (p.state !== 0) continue;
      if (p.data.length > this.maxPayload - 256) {
        this.tooLarge(p, `the NATS server's max_payload (${this.maxPayload})`);
        continue;
      }
      const h = headers();
      h.set('Nats-Msg-Id', this.idPrefix + p.seq);
      h.set('Nats-Expected-Stream', this.o.stream);
      p.state = 1;
      p.sentAt = now;
      this.stats.inFlight++;
      this.stats.published++;
      try {
        this.nc.publish(p.subject, p.data, { headers: h, reply: `${this.inbox}.${p.seq}` });
      } catch (err) {
        p.state = 0;
        this.stats.inFlight--;
        this.fail((err as Error).message);
        return;
      }
    }
  }

  private onAck(msg: Msg): void {
    const seq = Number(msg.subject.slice(this.inbox.length + 1));
    const p = this.find(seq);
    let error = '';
    if (msg.headers?.hasError) {
      error =
        msg.headers.code === 503
          ? `no JetStream stream answers on ${this.o.stream} (503 no responders)`
          : `${msg.headers.code} ${msg.headers.description}`;
    } else {
      try {
        const ack = JSON.parse(msg.string()) as { error?: { description?: string; code?: number; err_code?: number }; duplicate?: boolean };
        if (ack.error?.err_code === MESSAGE_TOO_LARGE && p !== undefined && p.state !== 2) {
          // Past the stream's max_msg_size: retrying cannot help, and must not hold up every record behind it.
          if (p.state === 1) this.stats.inFlight--;
          return this.tooLarge(p, `the stream's max_msg_size`);
        }
        if (ack.error) error = `${ack.error.code ?? ''} ${ack.error.description ?? 'error'}`.trim();
        else if (p && p.state !== 2 && ack.duplicate) this.stats.duplicates++;
      } catch {
        error = `unreadable acknowledgement ${JSON.stringify(msg.string().slice(0, 100))}`;
      }
    }
    if (p === undefined || p.state === 2) return; // a late or repeated answer for a record already acknowledged
    if (p.state === 1) this.stats.inFlight--;
    if (error !== '') {
      p.state = 0;
      this.fail(error);
      return;
    }
    p.state = 2;
    this.probing = false;
    this.stats.acknowledged++;
    this.stats.buffered--;
    this.stats.bufferedBytes -= p.data.length;
    p.data = DONE; // the line's slab can go (the entry itself stays until the head passes it)
    this.advance();
  }

  /** Past --max-buffer behind: write() returns false until 'drain'. */
  get full(): boolean {
    return this.needDrain;
  }

  private find(seq: number): Pending | undefined {
    if (this.head >= this.queue.length) return undefined;
    const i = this.head + (seq - this.queue[this.head].seq);
    return i >= this.head && i < this.queue.length ? this.queue[i] : undefined;
  }

  /** Drops the acknowledged records at the head; 'drain' and idle once low. */
  private advance(): void {
    while (this.head < this.queue.length && this.queue[this.head].state === 2) this.head++;
    if (this.head > 4096 && this.head * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.head);
      this.next -= this.head;
      this.head = 0;
    }
    if (this.retryDelay > 0 && !this.holding) {
      this.o.reporter.info(`forwarding to stream ${this.o.stream} works again; ${this.stats.buffered} records waiting`);
      this.retryDelay = 0;
    }
    if (this.needDrain && this.stats.bufferedBytes <= this.o.highWaterMark / 2) {
      this.needDrain = false;
      this.emit('drain');
    }
    if (this.stats.buffered === 0) for (const resolve of this.idleWaiters.splice(0)) resolve();
    this.pump();
  }

  private tooLarge(p: Pending, limit: string): void {
    this.stats.tooLarge++;
    p.state = 2;
    this.stats.buffered--;
    this.stats.bufferedBytes -= p.data.length;
    this.o.reporter.warn(
      'forward-too-large',
      `a record of ${p.data.length} bytes is larger than ${limit}; not forwarded (raise the limit or lower --max-entry)`,
    );
    p.data = DONE;
    this.advance();
  }

  /**
   * A failed round: stop publishing; once nothing is in flight any more (answers, or the ack timeout) wait the
   * retry delay and resend every unacknowledged record from the oldest.
   */
  private fail(reason: string): void {
    this.stats.lastError = reason;
    if (this.holding || this.closed) return;
    this.holding = true;
    this.probing = true;
    this.stats.failures++;
    this.retryDelay = Math.min(this.retryDelay === 0 ? 100 : this.retryDelay * 2, MAX_RETRY_MS);
    this.o.reporter.warn(
      'forward-error',
      `forwarding to stream ${this.o.stream} failed: ${reason}; ${this.stats.buffered} records (${this.stats.bufferedBytes} bytes) kept in memory, retrying in ${this.retryDelay} ms`,
    );
    this.scheduleRetry();
  }

  private scheduleRetry(): void {
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      // Whatever is still in flight is treated as lost; a late acknowledgement still counts (see onAck).
      for (let i = this.head; i < this.next && i < this.queue.length; i++) {
        const p = this.queue[i];
        if (p.state === 1) {
          p.state = 0;
          this.stats.retried++;
        }
      }
      this.stats.inFlight = 0;
      this.next = this.head;
      this.holding = false;
      this.pump();
    }, this.retryDelay);
  }

  private tick(): void {
    if (this.closed) return;
    const now = Date.now();
    if (!this.holding && this.stats.inFlight > 0) {
      // The oldest in flight is at or after head: find it.
      for (let i = this.head; i < this.next && i < this.queue.length; i++) {
        const p = this.queue[i];
        if (p.state !== 1) continue;
        if (now - p.sentAt > this.ackTimeoutMs) this.fail(`no acknowledgement within ${this.ackTimeoutMs} ms`);
        break;
      }
    }
    const interval = this.o.statusIntervalMs ?? 60_000;
    if (interval > 0 && now - this.lastStatusAt >= interval) {
      const acked = this.stats.acknowledged - this.ackedAtLastStatus;
      if (acked > 0 || this.stats.buffered > 0) {
        const rate = Math.round((acked * 1000) / (now - this.lastStatusAt));
        this.o.reporter.info(
          `forwarded ${acked} records in ${Math.round((now - this.lastStatusAt) / 1000)} s (${rate}/s) to stream ${this.o.stream}; ${this.stats.buffered} waiting (${this.stats.bufferedBytes} bytes); ${this.stats.connected ? `connected to ${this.stats.server}` : 'disconnected'}; ${this.stats.failures} failures`,
        );
      }
      this.lastStatusAt = now;
      this.ackedAtLastStatus = this.stats.acknowledged;
    }
  }

  private async watchStatus(): Promise<void> {
    for await (const s of this.nc.status()) {
      if (this.closed) return;
      switch (s.type) {
        case 'disconnect':
          this.stats.connected = false;
          this.stats.server = '';
          this.o.reporter.warn(
            'forward-disconnected',
            `lost the connection to ${s.server}; ${this.stats.buffered} records waiting; reconnecting`,
          );
          this.fail(`disconnected from ${s.server}`);
          break;
        case 'reconnect':
          this.stats.connected = true;
          this.stats.server = s.server;
          this.stats.reconnects++;
          this.maxPayload = this.nc.info?.max_payload ?? this.maxPayload;
          this.o.reporter.info(`reconnected to ${s.server}; ${this.stats.buffered} records waiting`);
          // Retry now rather than after the backoff: the connection is back.
          if (this.holding) {
            this.retryDelay = Math.min(this.retryDelay, 100);
            this.scheduleRetry();
          } else this.pump();
          break;
        case 'error':
          this.o.reporter.warn('forward-error', `NATS: ${s.error.message}`);
          break;
        default:
          break;
      }
    }
  }
}

async function ensureStream(nc: NatsConnection, o: ForwardOptions, subject: string): Promise<void> {
  const jsm = await jetstreamManager(nc, { timeout: 10_000 });
  try {
    const info = await jsm.streams.info(o.stream);
    const listens = info.config.subjects ?? [];
    if (!listens.some((s) => subjectCovers(s, subject))) {
      throw new ServerError(
        'LOGSERVER_ERR_NATS',
        `stream ${o.stream} exists but does not listen on ${subject} (its subjects: ${listens.join(', ') || 'none'})`,
      );
    }
    return;
  } catch (err) {
    if (err instanceof ServerError) throw err;
    if (!/not found/i.test((err as Error).message)) throw err;
  }
  const sec = 1_000_000_000;
  const cfg: Partial<StreamConfig> & { name: string } = {
    name: o.stream,
    subjects: [subject],
    storage: StorageType.File,
    num_replicas: o.replicas,
    discard: DiscardPolicy.Old,
    duplicate_window: o.duplicateWindowSec * sec,
  };
  if (o.maxAgeSec > 0) cfg.max_age = o.maxAgeSec * sec;
  if (o.maxBytes > 0) cfg.max_bytes = o.maxBytes;
  await jsm.streams.add(cfg);
  o.reporter.info(`created stream ${o.stream} (file storage, ${o.replicas} replicas, subjects ${subject})`);
}

/** Whether stream subject `filter` (may hold wildcards) takes in every subject `wanted` (may end in `>`) does. */
export function subjectCovers(filter: string, wanted: string): boolean {
  const f = filter.split('.');
  const w = wanted.split('.');
  for (let i = 0; i < f.length; i++) {
    if (f[i] === '>') return i < w.length;
    if (i >= w.length) return false;
    if (w[i] === '>') return false;
    if (f[i] !== '*' && f[i] !== w[i]) return false;
  }
  return f.length === w.length;
}
