/**
 * Starting and stopping: single-process (one process reads, decodes, formats and writes) or multithreaded
 * (see cluster/primary.ts). `serveForever` is the blocking form of the original `serve_forever`.
 */
import cluster from 'node:cluster';
import * as net from 'node:net';
import type { AddressInfo } from 'node:net';
import { resolveOptions, ServerError, type ServerOptions } from './options';
import { streamReporter, type Reporter } from './report';
import { ConnectionSet } from './input/tcp';
import { makeLineMaker } from './record';
import { nativeMissing } from './pickle/native';
import { readIntoMissing } from './input/read-into';
import { Writer, stopOnce, summaryLine, type ServerSummary } from './writer';
import { formatAddress, stopAccepting } from './listen';
import { startMultithreaded } from './cluster/primary';
import { admitAll } from './input/admit';
import { listenWithOtherInputs, registerInputStats, startOtherInputs, summaryCounts, type OtherInputs } from './input/inputs';
import { countRefusedConnection, newServerStats, startMetrics, type MetricsEndpoint } from './metrics';
import { makeAllowCheck, openToAllWarning, refuseNotAllowed } from './access';
import type { ForwardStats } from './sink/nats';

export interface RunningServer {
  /** Where the server listens (the real port when started with port 0). */
  readonly address: AddressInfo;
  /** Absolute path of the target file. */
  readonly target: string;
  /** Stops accepting, lets open connections finish (see `drainTimeout`), writes and fsyncs every entry,
   * releases the lock. Safe to call more than once. */
  close(): Promise<ServerSummary>;
  /** Reopens the target (and rejects file) at the same path: what logrotate's move-then-HUP needs. */
  reopen(): void;
  /** Resolves once the server has stopped, whether by close() or on its own (see `ServerSummary.fatal`). */
  readonly closed: Promise<ServerSummary>;
  /** With --forward: the forwarder's live numbers (connection, rate, buffer, failures). */
  readonly forward?: ForwardStats;
}

/**
 * Starts a server and resolves once it listens.
 *
 * @example
 *   const server = await startServer({ port: 0, target: 'logs.txt' });
 *   console.log(server.address.port);
 *   await server.close();
 */
export async function startServer(options: Partial<ServerOptions> = {}): Promise<RunningServer> {
  const o = resolveOptions(options);
  const reporter = o.reporter ?? streamReporter();
  return o.multithreaded ? startMultithreaded(o, reporter) : startSingleProcess(o, reporter);
}

async function startSingleProcess(o: ServerOptions, reporter: Reporter): Promise<RunningServer> {
  const writer = await Writer.open(o, reporter, (err) => {
    reporter.info(`lost the lock on ${o.target} (${err.message}); stopping`);
    void stop.run(`lost the lock on ${o.target}`);
  });
  const connections = new ConnectionSet(makeLineMaker(o), writer.entries, o.maxFrame, reporter, (r) => writer.reject(r));
  const stats = newServerStats();
  stats.inputs.set('tcp', connections.stats);
  const allowed = makeAllowCheck(o.allow);
  let lastAccept = 0;
  const server = net.createServer((socket) => {
    lastAccept = Date.now();
    if (allowed !== null && !allowed(socket.remoteAddress)) return refuseNotAllowed(socket, stats, reporter);
    if (connections.size >= o.maxConnections) {
      countRefusedConnection(stats, 'too-many-connections');
      return refuseConnection(socket, o, reporter);
    }
    connections.serve(socket);
  });
  let address: AddressInfo;
  let others: OtherInputs | undefined;
  let metrics: MetricsEndpoint | null = null;
  try {
    // UDP datagrams and HTTP requests are checked against --allow too.
    ({ address, others } = await listenWithOtherInputs(server, o, (tcp) => startOtherInputs(o, tcp, writer.entries, reporter, (r) => writer.reject(r), allowed ?? admitAll)));
    if (o.metricsPort !== undefined) metrics = await startMetrics(o.host, o.metricsPort, { stats, sink: writer.sink, forwarder: writer.forwarder, openConnections: () => connections.size, rejectsDropped: () => writer.rejectsDropped });
  } catch (err) {
    await others?.stop(0);
    server.close();
    await writer.close();
    throw err;
  }
  const inputs: OtherInputs = others;
  registerInputStats(stats.inputs, inputs);
  stats.listening = true;
  announceStart(reporter, o, address, writer.path, 'single-process', metrics, inputs);
  const stop = stopOnce(async (fatal?: string) => {
    stats.listening = false;
    reporter.info(`stopping: ${connections.size} connections open, draining for up to ${o.drainTimeout} ms`);
    const othersStopped = inputs.stop(o.drainTimeout);
    await stopAccepting(server, () => lastAccept);
    await connections.drain(o.drainTimeout);
    await othersStopped;
    const summary: ServerSummary = { written: await writer.close(o.drainTimeout), ...summaryCounts(connections.stats, inputs), rejectsDropped: writer.rejectsDropped, fatal };
    summary.forward = writer.forward;
    await metrics?.close();
    reporter.info(summaryLine(summary, writer.path));
    return summary;
  });
  return { address, target: writer.path, close: () => stop.run(), reopen: () => writer.reopen(reporter), closed: stop.done, forward: writer.forwarder?.stats };
}

/** The start lines, the same in both modes: where it listens and writes, the open-to-all warning, metrics, UDP/HTTP. */
export function announceStart(reporter: Reporter, o: ServerOptions, address: AddressInfo, writing: string, mode: string, metrics: MetricsEndpoint | null, inputs: OtherInputs): void {
  reporter.info(`listening on ${formatAddress(address)}, writing ${writing}, ${mode}`);
  if (nativeMissing !== null) reporter.info(`decoding with the TypeScript transcoder, about 3x slower: the C++ one is not used because ${nativeMissing}; \`npm run install\` builds it (needs g++ and make)`);
  if (readIntoMissing !== null) reporter.info(`reading sockets into a new buffer per read (more memory and CPU at full speed), not one reused buffer: ${readIntoMissing}`);
  const warning = openToAllWarning(o.host, address.port, o.allow);
  if (warning !== null) reporter.info(warning);
  if (metrics !== null) reporter.info(metrics.line);
  const also = inputs.describe();
  if (also !== null) reporter.info(`also listening on ${also}`);
}

/** Past --max-connections: closed at once, and said (rate-limited). */
export function refuseConnection(socket: net.Socket, o: ServerOptions, reporter: Reporter): void {
  reporter.warn('too-many-connections', `refused a connection from ${socket.remoteAddress}:${socket.remotePort}: already ${o.maxConnections} open (--max-connections)`);
  socket.destroy();
}

/**
 * Serves until SIGINT or SIGTERM, then drains and resolves (SIGHUP reopens the target): the TypeScript form of Python's
 * `serve_forever(HOST, PORT, target="logs.txt", multithreaded=False)`.
 * Rejects with ServerError if the server cannot start, or stops because it cannot go on.
 *
 * @example
 *   await serveForever('127.0.0.1', 9020, { target: 'logs.txt', multithreaded: true });
 */
export async function serveForever(host: string, port: number, options: Partial<ServerOptions> = {}): Promise<ServerSummary> {
  if (cluster.isWorker) {
    // pm2 cluster mode (or another node:cluster primary) runs its app as cluster workers: each instance would
    // fight for the target's lock, and its listening socket belongs to someone else's primary.
    throw new ServerError('cannot run as a cluster worker (pm2 cluster mode?): start it in fork mode (exec_mode: "fork", one instance); use --multithreaded for more processes');
  }
  const server = await startServer({ ...options, host, port });
  const onSignal = () => void server.close();
  const onHangup = () => server.reopen();
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  process.on('SIGHUP', onHangup);
  // pm2 (wait_ready) and other supervisors: say "ready" once listening.
  if (typeof process.send === 'function' && !process.env.LOGSERVER_WORKER) process.send('ready');
  try {
    const summary = await server.closed;
    if (summary.fatal) throw new ServerError(summary.fatal);
    return summary;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    process.off('SIGHUP', onHangup);
  }
}
