/**
 * Counters, /metrics and /healthz.
 *
 * The hot path only bumps plain integers on small stats objects: each input its own InputStats (records
 * received, refused by reason, bytes, connections), the file writer its FileSink fields (written, batches,
 * failure). prom-client reads them at scrape time through collect() callbacks, so a record costs no prom-client
 * call. In multithreaded mode the workers send their InputStats to the primary over the IPC channel they already
 * use (a 'stats' message at most every STATS_INTERVAL_MS (messages.ts), and a last one when they stop), and the primary keeps
 * the one registry: a scrape is answered by one process, at once, without asking busy workers, and the totals of
 * a worker that died stay counted.
 *
 * A new input counts into an InputStats of its own (newInputStats()) registered under its name with
 * `stats.inputs.set(name, its stats)`: `received` per record (frame, datagram, request), `refused`/`refusedBy` per
 * refused one, `bytesIn` per read; the metrics carry it as the `input` label.
 */
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { inputTotals, type InputStats, type ServerStats } from '../core/stats';
import type { FileSink } from '../sink/file';
import type { NatsForwarder } from '../nats/forwarder';
import { listen, formatAddress } from '../net/listen';
import { ServerError } from '../core/errors';
import type { TlsContext } from '../net/tls';

/** What the endpoint reads at scrape time. */
export interface MetricsSource {
  stats: ServerStats;
  /** The target file's writer (never opened, and so all zeros, when forwarding without a target). */
  sink: FileSink;
  /** With --forward: the JetStream forwarder. */
  forwarder?: NatsForwarder | null;
  openConnections(): number;
  /** Refused frames not kept in the --rejects file because it was over --max-buffer behind. */
  rejectsDropped?(): number;
  /** A reason the server is not healthy beyond the common ones (e.g. no worker ready), or null. */
  unhealthy?(): string | null;
  /** With TLS: the certificates in use now, and how often reading them again succeeded and failed. */
  tls?: { context(): TlsContext; reloads: { ok: number; failed: number } };
}

/** Why the server is not healthy, or null: it must listen and its last write must have succeeded. */
export function healthProblem(source: MetricsSource): string | null {
  if (!source.stats.listening) return 'not accepting connections (starting or stopping)';
  if (source.sink.failure !== null)
    return `cannot write to ${source.sink.path}: ${source.sink.failure}; ${source.sink.pending} entries waiting`;
  const f = source.forwarder?.stats;
  if (f !== undefined) {
    if (!f.connected)
      return `not connected to NATS${f.lastError ? ` (${f.lastError})` : ''}; ${f.buffered} records waiting to be forwarded`;
    if (source.forwarder!.full) return `forwarding is over --max-buffer behind (${f.buffered} records waiting); inputs paused`;
  }
  return source.unhealthy?.() ?? null;
}

/** Write-latency buckets, in seconds: a writev of a batch normally takes tens of microseconds to a millisecond. */
const WRITE_BUCKETS = [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

/** The registry: every value read from `source` at scrape time, plus the process's default metrics. */
export function makeRegistry(source: MetricsSource): Registry {
  const registry = new Registry();
  const registers = [registry];
  const { stats, sink } = source;
  const inputs = () => Object.entries(inputTotals(stats));
  const perInput = (name: string, help: string, value: (s: InputStats) => number) =>
    new Counter({
      name,
      help,
      labelNames: ['input'],
      registers,
      collect() {
        this.reset();
        for (const [input, s] of inputs()) this.inc({ input }, value(s));
      },
    });
  perInput('log_server_records_received_total', 'Records (frames) received, refused ones included.', (s) => s.received);
  perInput('log_server_bytes_received_total', 'Bytes read from clients.', (s) => s.bytesIn);
  perInput('log_server_connections_total', 'Connections accepted and served.', (s) => s.connectionsTotal);
  new Counter({
    name: 'log_server_records_refused_total',
    help: 'Records refused (not written; kept with --rejects), by reason code.',
    labelNames: ['input', 'reason'],
    registers,
    collect() {
      this.reset();
      for (const [input, s] of inputs()) for (const [reason, n] of Object.entries(s.refusedBy)) this.inc({ input, reason }, n);
    },
  });
  new Counter({
    name: 'log_server_records_written_total',
    help: 'Records written to the target file.',
    registers,
    collect() {
      this.reset();
      this.inc(sink.written);
    },
  });
  new Counter({
    name: 'log_server_write_batches_total',
    help: 'Successful writes (writev calls) to the target file; each carries many records.',
    registers,
    collect() {
      this.reset();
      this.inc(sink.batches);
    },
  });
  const latency = new Histogram({
    name: 'log_server_write_duration_seconds',
    help: 'Time one write (writev) of a batch to the target file took.',
    buckets: WRITE_BUCKETS,
    registers,
  });
  sink.onWrite = (seconds) => latency.observe(seconds);
  new Gauge({
    name: 'log_server_entries_pending',
    help: 'Records accepted but not yet written to the target (held in memory while the disk is slow or failing).',
    registers,
    collect() {
      this.set(sink.pending);
    },
  });
  new Gauge({
    name: 'log_server_connections_open',
    help: 'Client connections open now.',
    registers,
    collect() {
      this.set(source.openConnections());
    },
  });
  new Counter({
    name: 'log_server_connections_refused_total',
    help: 'Connections closed at once, by reason: not-allowed (--allow), too-many-connections, no-worker.',
    labelNames: ['reason'],
    registers,
    collect() {
      this.reset();
      for (const [reason, n] of Object.entries(stats.connectionsRefusedBy)) this.inc({ reason }, n);
    },
  });
  new Counter({
    name: 'log_server_rejects_dropped_total',
    help: 'Refused frames not kept in the --rejects file because it was over --max-buffer behind (still counted as refused).',
    registers,
    collect() {
      this.reset();
      this.inc(source.rejectsDropped?.() ?? 0);
    },
  });
  new Counter({
    name: 'log_server_worker_restarts_total',
    help: 'Workers that died and were replaced (multithreaded mode).',
    registers,
    collect() {
      this.reset();
      this.inc(stats.workerRestarts);
    },
  });
  const tls = source.tls;
  if (tls) {
    new Counter({
      name: 'log_server_tls_handshakes_total',
      help: 'TLS handshakes completed (the client certificate verified, with --tls-ca), by input.',
      labelNames: ['input'],
      registers,
      collect() {
        this.reset();
        for (const [input, s] of inputs()) if (input !== 'udp') this.inc({ input }, s.tlsHandshakes);
      },
    });
    new Counter({
      name: 'log_server_tls_handshakes_failed_total',
      help: 'TLS handshakes failed (the connection closed unread), by input and reason code: not-tls, tls-no-client-cert, tls-untrusted-cert, tls-expired-cert, tls-handshake-timeout ...',
      labelNames: ['input', 'reason'],
      registers,
      collect() {
        this.reset();
        for (const [input, s] of inputs()) for (const [reason, n] of Object.entries(s.tlsFailedBy)) this.inc({ input, reason }, n);
      },
    });
    new Gauge({
      name: 'log_server_tls_certificate_expiry_timestamp_seconds',
      help: "When the server's TLS certificate (--tls-cert) expires, in seconds since the epoch.",
      registers,
      collect() {
        this.set(tls.context().expires);
      },
    });
    new Counter({
      name: 'log_server_tls_reloads_total',
      help: 'Times the TLS files were read again (SIGHUP), by result: ok, or failed (the certificates in use were kept).',
      labelNames: ['result'],
      registers,
      collect() {
        this.reset();
        this.inc({ result: 'ok' }, tls.reloads.ok);
        this.inc({ result: 'failed' }, tls.reloads.failed);
      },
    });
  }
  const forwarder = source.forwarder;
  if (forwarder) {
    const f = forwarder.stats;
    const counter = (name: string, help: string, value: () => number) =>
      new Counter({
        name,
        help,
        registers,
        collect() {
          this.reset();
          this.inc(value());
        },
      });
    const gauge = (name: string, help: string, value: () => number) =>
      new Gauge({
        name,
        help,
        registers,
        collect() {
          this.set(value());
        },
      });
    gauge('log_server_forward_connected', '1 while connected to a NATS server, else 0.', () => (f.connected ? 1 : 0));
    counter('log_server_forward_records_total', 'Records taken in for forwarding.', () => f.accepted);
    counter('log_server_forward_acknowledged_total', 'Records JetStream acknowledged (stored, or found duplicate).', () => f.acknowledged);
    counter('log_server_forward_duplicates_total', 'Acknowledged records JetStream had already stored (a resend).', () => f.duplicates);
    counter('log_server_forward_published_total', 'Publishes sent, first tries and retries.', () => f.published);
    counter('log_server_forward_retried_total', 'Publishes that were retries.', () => f.retried);
    counter('log_server_forward_failures_total', 'Failed rounds: timeouts, error replies, lost connections.', () => f.failures);
    counter('log_server_forward_reconnects_total', 'Reconnections to NATS.', () => f.reconnects);
    counter('log_server_forward_too_large_total', 'Records larger than NATS takes: counted, reported, not forwarded.', () => f.tooLarge);
    gauge('log_server_forward_buffered', 'Records waiting for an acknowledgement (in flight included).', () => f.buffered);
    gauge('log_server_forward_buffered_bytes', 'Bytes of the records waiting; past --max-buffer the inputs pause.', () => f.bufferedBytes);
  }
  new Gauge({
    name: 'log_server_healthy',
    help: '1 while the server listens and its last write succeeded (what /healthz answers 200 for), else 0.',
    registers,
    collect() {
      this.set(healthProblem(source) === null ? 1 : 0);
    },
  });
  collectDefaultMetrics({ register: registry });
  return registry;
}

export interface MetricsEndpoint {
  readonly address: AddressInfo;
  /** The line that says where it listens (printed after the server's own "listening" line). */
  readonly line: string;
  close(): Promise<void>;
}

/**
 * Serves GET /metrics (Prometheus text) and GET /healthz (200 "ok", or 503 with the reason) on host:port.
 * Throws ServerError if it cannot listen.
 */
export async function startMetrics(host: string, port: number, source: MetricsSource): Promise<MetricsEndpoint> {
  const registry = makeRegistry(source);
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    const reply = (status: number, type: string, body: string) => {
      res.writeHead(status, { 'Content-Type': type, 'Cache-Control': 'no-store' });
      res.end(req.method === 'HEAD' ? undefined : body);
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') return reply(405, 'text/plain; charset=utf-8', 'only GET and HEAD\n');
    if (path === '/healthz') {
      const problem = healthProblem(source);
      // With TLS a second line says so, and whose certificates are in use.
      const context = source.tls?.context();
      const tlsLine = context ? `tls: on, certificate ${context.describeCertificate()}; ${context.describeClients()}\n` : '';
      return problem === null
        ? reply(200, 'text/plain; charset=utf-8', `ok\n${tlsLine}`)
        : reply(503, 'text/plain; charset=utf-8', `${problem}\n${tlsLine}`);
    }
    if (path === '/metrics') {
      registry.metrics().then(
        (text) => reply(200, registry.contentType, text),
        (err: Error) => reply(500, 'text/plain; charset=utf-8', `cannot collect metrics: ${err.message}\n`),
      );
      return;
    }
    reply(404, 'text/plain; charset=utf-8', 'not found: try /metrics or /healthz\n');
  });
  let address: AddressInfo;
  try {
    address = await listen(server, host, port);
  } catch (err) {
    throw err instanceof ServerError ? new ServerError(err.code, `metrics: ${err.message}`, { cause: err.cause }) : err;
  }
  return {
    address,
    line: `metrics on http://${formatAddress(address)}/metrics, health on /healthz`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
