/**
 * Starting and stopping: single-process (one process reads, decodes, formats and writes) or multithreaded
 * (see cluster/primary.ts). `serveForever` is the blocking form of the original `serve_forever`.
 */
import * as net from 'node:net';
import type { AddressInfo } from 'node:net';
import { resolveOptions, ServerError, type ServerOptions } from './options';
import { streamReporter, type Reporter } from './report';
import { ConnectionSet } from './input/tcp';
import { makeLineMaker } from './record';
import { Writer, stopOnce, summaryLine, type ServerSummary } from './writer';
import { formatAddress, listen, stopAccepting } from './listen';
import { startMultithreaded } from './cluster/primary';
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
  let lastAccept = 0;
  const server = net.createServer((socket) => {
    lastAccept = Date.now();
    if (connections.size >= o.maxConnections) return refuseConnection(socket, o, reporter);
    connections.serve(socket);
  });
  let address: AddressInfo;
  try {
    address = await listen(server, o.host, o.port);
  } catch (err) {
    await writer.close();
    throw err;
  }
  reporter.info(`listening on ${formatAddress(address)}, writing ${writer.path}, single-process`);
  const stop = stopOnce(async (fatal?: string) => {
    reporter.info(`stopping: ${connections.size} connections open, draining for up to ${o.drainTimeout} ms`);
    await stopAccepting(server, () => lastAccept);
    await connections.drain(o.drainTimeout);
    const summary: ServerSummary = { written: await writer.close(o.drainTimeout), ...statsOf(connections), fatal };
    summary.forward = writer.forward;
    reporter.info(summaryLine(summary, writer.path));
    return summary;
  });
  return { address, target: writer.path, close: () => stop.run(), reopen: () => writer.reopen(reporter), closed: stop.done, forward: writer.forwarder?.stats };
}

/** Past --max-connections: closed at once, and said (rate-limited). */
export function refuseConnection(socket: net.Socket, o: ServerOptions, reporter: Reporter): void {
  reporter.warn('too-many-connections', `refused a connection from ${socket.remoteAddress}:${socket.remotePort}: already ${o.maxConnections} open (--max-connections)`);
  socket.destroy();
}

function statsOf(c: ConnectionSet) {
  return { received: c.stats.received, refused: c.stats.refused, refusedBy: { ...c.stats.refusedBy } };
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
  const server = await startServer({ ...options, host, port });
  const onSignal = () => void server.close();
  const onHangup = () => server.reopen();
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  process.on('SIGHUP', onHangup);
  // pm2 (wait_ready) and other supervisors: say "ready" once listening.
  if (typeof process.send === 'function' && !process.env.LOG_SERVER_WORKER) process.send('ready');
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
