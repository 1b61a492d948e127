/**
 * Reading a stream back into a JSON-lines file: `log-server consume nats://... --target logs.txt`.
 *
 * A durable pull consumer fetches batches; each batch's lines are appended to the target in stream order, the
 * file is fsynced, then the last written stream sequence is recorded beside it (`<target>.seq`, replaced
 * atomically and fsynced), and only then is the batch acknowledged. The `.seq` file is the truth: at start the
 * durable consumer is (re)created to deliver from the sequence after it, bytes the file gained after it (a batch
 * written but not recorded when the process died) are cut, and a message at or below it is skipped. So a crash
 * or kill at any point neither loses nor repeats a line. The target is locked as the server locks its own.
 */
import * as fs from 'node:fs';
import { promises as fsp } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { connect } from '@nats-io/transport-node';
import type { NatsConnection } from '@nats-io/nats-core';
import { AckPolicy, DeliverPolicy, jetstream, jetstreamManager, type Consumer, type ConsumerConfig, type JsMsg } from '@nats-io/jetstream';
import { lockTarget, type ReleaseLock } from '../sink/lock';
import { repairTornTail } from '../sink/torn-tail';
import type { Reporter } from '../core/report';
import { describeFsError, ServerError } from '../core/errors';

export interface ConsumeOptions {
  /** Comma-separated NATS URLs. */
  servers: string;
  target: string;
  stream: string;
  durable: string;
  /** Subject filter (e.g. `logs.app.>`); default: the whole stream. */
  filter?: string;
  /** Messages per fetch (and per fsync). */
  batch: number;
  reporter: Reporter;
}

export interface ConsumeSummary {
  /** Lines appended by this run. */
  written: number;
  /** The last stream sequence in the file. */
  lastSeq: number;
  fatal?: string;
}

/** What `<target>.seq` holds: the last stream sequence written, and the file (inode, size) it was written to. */
interface SeqRecord {
  stream: string;
  seq: number;
  ino: number;
  size: number;
}

const NANOS = 1_000_000;
const ACK_WAIT_MS = 60_000;

export function seqPathOf(target: string): string {
  return `${target}.seq`;
}

async function readSeq(path: string): Promise<SeqRecord | null> {
  let text: string;
  try {
    text = await fsp.readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new ServerError('LOGSERVER_ERR_FILE', `cannot read ${path}: ${describeFsError(err)}`);
  }
  try {
    const r = JSON.parse(text) as SeqRecord;
    if (typeof r.seq === 'number' && typeof r.stream === 'string') return r;
  } catch {
    // fall through
  }
  throw new ServerError(
    'LOGSERVER_ERR_FILE',
    `${path} is not a sequence record written by log-server consume (remove it to start from the stream's beginning)`,
  );
}

/** Replaces the record atomically (write, fsync, rename, fsync the directory). */
async function writeSeq(path: string, r: SeqRecord): Promise<void> {
  const tmp = `${path}.tmp`;
  const fh = await fsp.open(tmp, 'w', 0o644);
  try {
    await fh.writeFile(JSON.stringify(r) + '\n');
    await fh.sync();
  } finally {
    await fh.close();
  }
  await fsp.rename(tmp, path);
  const dir = await fsp.open(dirname(path), 'r');
  try {
    await dir.sync();
  } finally {
    await dir.close();
  }
}

export interface RunningConsumer {
  readonly target: string;
  /** Finishes the batch in hand (write, fsync, record, acknowledge) and stops. */
  close(): Promise<ConsumeSummary>;
  /** Reopens the target by path before the next batch (after logrotate moved it). */
  reopen(): void;
  readonly closed: Promise<ConsumeSummary>;
}

export async function startConsumer(o: ConsumeOptions): Promise<RunningConsumer> {
  const target = resolve(o.target);
  const seqPath = seqPathOf(target);
  const reporter = o.reporter;
  let fd: number;
  try {
    fd = fs.openSync(target, 'a', 0o644);
  } catch (err) {
    throw new ServerError('LOGSERVER_ERR_FILE', `cannot open ${target}: ${describeFsError(err)}`);
  }
  let stopping = false;
  let fatal: string | undefined;
  let release: ReleaseLock;
  try {
    release = await lockTarget(target, (err) => {
      fatal = `lost the lock on ${target} (${err.message})`;
      stopping = true;
    });
  } catch (err) {
    fs.closeSync(fd);
    throw err;
  }
  let nc: NatsConnection | null = null;
  const cleanup = async () => {
    if (fd >= 0) fs.closeSync(fd);
    fd = -1;
    // Bounded: closing a connection that is down and reconnecting may never finish.
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([nc?.close().catch(() => {}), new Promise<void>((r) => (timer = setTimeout(r, 2000)))]);
    clearTimeout(timer);
    await release();
  };

  let last: SeqRecord;
  let consumer: Consumer;
  try {
    last = await reconcile(target, seqPath, o.stream, reporter);
    nc = await connect({
      servers: o.servers.split(',').map((s) => s.trim()),
      name: `log-server consume ${o.durable}`,
      maxReconnectAttempts: -1,
      reconnectTimeWait: 250,
      timeout: 5000,
    }).catch((err: Error) => {
      throw new ServerError('LOGSERVER_ERR_NATS', `cannot connect to ${o.servers}: ${err.message}`);
    });
    consumer = await position(nc, o, last.seq);
  } catch (err) {
    await cleanup();
    throw err;
  }
  reporter.info(
    `consuming stream ${o.stream} (durable ${o.durable}${o.filter ? `, filter ${o.filter}` : ''}) after sequence ${last.seq} into ${target}`,
  );

  let written = 0;
  let committing: Promise<void> | null = null;
  let reopenWanted = false;
  let retryDelay = 0;
  let wake: (() => void) | null = null;
  const sleep = (ms: number) =>
    new Promise<void>((r) => {
      const timer = setTimeout(() => {
        wake = null;
        r();
      }, ms);
      wake = () => {
        clearTimeout(timer);
        wake = null;
        r();
      };
    });

  /** Appends one batch, fsyncs, records it, acknowledges it. */
  const commit = async (msgs: JsMsg[]) => {
    const bufs: Buffer[] = [];
    let lines = 0;
    let top = last.seq;
    for (const m of msgs) {
      if (m.seq <= top) continue; // written before (a redelivery, or a retry after a crash)
      const data = Buffer.from(m.data.buffer, m.data.byteOffset, m.data.byteLength);
      bufs.push(data);
      if (data.length === 0 || data[data.length - 1] !== 0x0a) bufs.push(NEWLINE);
      top = m.seq;
      lines++;
    }
    if (reopenWanted) {
      reopenWanted = false;
      const old = fd;
      fd = fs.openSync(target, 'a', 0o644);
      fs.fsyncSync(old);
      fs.closeSync(old);
      reporter.info(`reopened ${target}`);
    }
    if (lines > 0) {
      await writeAll(fd, bufs);
      await new Promise<void>((r, j) => fs.fsync(fd, (err) => (err ? j(err) : r())));
      const st = fs.fstatSync(fd);
      last = { stream: o.stream, seq: top, ino: st.ino, size: st.size };
      await writeSeq(seqPath, last);
      written += lines;
    }
    msgs[msgs.length - 1].ack(); // AckPolicy.All: acknowledges the whole batch
  };

  const loop = async (): Promise<void> => {
    let expectDelivery = 0;
    while (!stopping) {
      let msgs: JsMsg[] = [];
      try {
        const batch = await consumer.fetch({ max_messages: o.batch, expires: 1000 });
        for await (const m of batch) msgs.push(m);
      } catch (err) {
        retryDelay = Math.min(retryDelay === 0 ? 250 : retryDelay * 2, 5000);
        reporter.warn('consume-error', `cannot fetch from stream ${o.stream}: ${(err as Error).message}; retrying in ${retryDelay} ms`);
        await sleep(retryDelay);
        continue;
      }
      // Stopping: what was fetched is not written nor acknowledged; it comes again at the next start.
      if (stopping) break;
      if (msgs.length === 0) continue;
      // A delivery lost in transit (a reconnect mid-fetch) shows as a gap in the consumer's delivery sequence:
      // its message would come again only after the ack wait, behind later ones. Keep what came before the gap
      // and start the consumer again after the last written sequence, so the file stays in stream order.
      let gapAt = -1;
      for (let i = 0; i < msgs.length; i++) {
        const d = msgs[i].info.deliverySequence;
        if (expectDelivery !== 0 && d !== expectDelivery) {
          gapAt = i;
          break;
        }
        expectDelivery = d + 1;
      }
      if (gapAt >= 0) msgs = msgs.slice(0, gapAt);
      try {
        if (msgs.length > 0) {
          committing = commit(msgs);
          await committing;
          committing = null;
        }
        if (gapAt >= 0) {
          reporter.warn('consume-gap', `a delivery from stream ${o.stream} went missing; starting again after sequence ${last.seq}`);
          consumer = await position(nc!, o, last.seq);
          expectDelivery = 0;
        }
        if (retryDelay > 0) reporter.info(`consuming stream ${o.stream} works again`);
        retryDelay = 0;
      } catch (err) {
        if (err instanceof ServerError) throw err;
        fatal = `cannot write ${target}: ${describeFsError(err)}`;
        return;
      }
    }
  };

  let settle: (s: ConsumeSummary) => void = () => {};
  const closed = new Promise<ConsumeSummary>((r) => (settle = r));
  const running = loop().then(
    () => undefined,
    (err: Error) => {
      fatal = err.message;
    },
  );
  let closing: Promise<ConsumeSummary> | null = null;
  const close = () =>
    (closing ??= (async () => {
      stopping = true;
      wake?.();
      // A fetch may hang while NATS is unreachable: wait for the loop a little, but always for a batch being
      // written (the loop writes nothing once stopping is set).
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([running, new Promise<void>((r) => (timer = setTimeout(r, 2000)))]);
      clearTimeout(timer);
      await (committing as Promise<void> | null)?.catch(() => {});
      await cleanup();
      const summary: ConsumeSummary = { written, lastSeq: last.seq, fatal };
      reporter.info(`stopped; wrote ${written} lines to ${target}, up to stream sequence ${last.seq}${fatal ? `; ${fatal}` : ''}`);
      settle(summary);
      return summary;
    })());
  void running.then(() => {
    if (fatal) void close();
  });
  return { target, close, reopen: () => (reopenWanted = true), closed };
}

const NEWLINE = Buffer.from('\n');

async function writeAll(fd: number, bufs: Buffer[]): Promise<void> {
  let rest = bufs;
  while (rest.length > 0) {
    const chunk = rest.slice(0, 1024);
    let n = await new Promise<number>((r, j) => fs.writev(fd, chunk, (err, w) => (err ? j(err) : r(w))));
    let i = 0;
    while (i < chunk.length && n >= chunk[i].length) n -= chunk[i++].length;
    rest = i < chunk.length ? [chunk[i].subarray(n), ...chunk.slice(i + 1), ...rest.slice(1024)] : rest.slice(1024);
  }
}

/**
 * The sequence record against the file: a file longer than recorded (same inode) was written after the last
 * record, by a run that died before recording (and acknowledging) it: those bytes are cut, to be written again.
 * Without a record, a line cut by a crash is set apart as the server does.
 */
async function reconcile(target: string, seqPath: string, stream: string, reporter: Reporter): Promise<SeqRecord> {
  const rec = await readSeq(seqPath);
  const st = await fsp.stat(target);
  if (rec === null) {
    await repairTornTail(target, reporter);
    const after = await fsp.stat(target);
    return { stream, seq: 0, ino: after.ino, size: after.size };
  }
  if (rec.stream !== stream) {
    throw new ServerError(
      'LOGSERVER_ERR_FILE',
      `${seqPath} records stream ${rec.stream}, not ${stream}: use another target, or remove it to start from the beginning`,
    );
  }
  if (st.ino === rec.ino && st.size > rec.size) {
    await fsp.truncate(target, rec.size);
    reporter.info(
      `cut ${st.size - rec.size} bytes from the end of ${target}: written after sequence ${rec.seq} but never recorded (they come again)`,
    );
  } else if (st.ino !== rec.ino || st.size < rec.size) {
    // Rotated or truncated since: nothing to compare; the sequence alone says where to go on.
    await repairTornTail(target, reporter);
  }
  return rec;
}

/** (Re)creates the durable to deliver from the sequence after `lastSeq`. */
async function position(nc: NatsConnection, o: ConsumeOptions, lastSeq: number): Promise<Consumer> {
  const jsm = await jetstreamManager(nc, { timeout: 10_000 });
  try {
    await jsm.streams.info(o.stream);
  } catch (err) {
    throw new ServerError('LOGSERVER_ERR_NATS', `cannot read stream ${o.stream}: ${(err as Error).message}`);
  }
  try {
    await jsm.consumers.delete(o.stream, o.durable);
  } catch {
    // did not exist
  }
  const cfg: Partial<ConsumerConfig> = {
    durable_name: o.durable,
    ack_policy: AckPolicy.All,
    ack_wait: ACK_WAIT_MS * NANOS,
    max_ack_pending: Math.max(o.batch * 2, 1000),
    ...(lastSeq > 0 ? { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: lastSeq + 1 } : { deliver_policy: DeliverPolicy.All }),
    ...(o.filter ? { filter_subject: o.filter } : {}),
  };
  await jsm.consumers.add(o.stream, cfg);
  return jetstream(nc).consumers.get(o.stream, o.durable);
}
