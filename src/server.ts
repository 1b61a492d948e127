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
import { openTarget, summaryLine, type ServerSummary } from './target';
import { formatAddress, listen } from './listen';
import { startMultithreaded } from './cluster/primary';

export interface RunningServer {
  /** Where the server listens (the real port when started with port 0). */
  readonly address: AddressInfo;
  /** Absolute path of the target file. */
  readonly target: string;
  /** Stops accepting, lets open connections finish (see `drainTimeout`), writes and fsyncs every entry,
   * releases the lock. Safe to call more than once. */
  close(): Promise<ServerSummary>;
  /** Resolves once the server has stopped, whether by close() or on its own (see `ServerSummary.fatal`). */
  readonly closed: Promise<ServerSummary>;
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
  // Until the server listens there is nothing to stop (a failed start cleans up by itself).
  const notStarted: ServerSummary = { written: 0, received: 0, refused: 0, refusedBy: {} };
  let stop: (fatal?: string) => Promise<ServerSummary> = async () => notStarted;
  const { sink, release } = await openTarget(o.target, reporter, (err) => {
    reporter.info(`lost the lock on ${o.target} (${err.message}); stopping`);
    void stop(`lost the lock on ${o.target}`);
  });
  const connections = new ConnectionSet(makeLineMaker(o), sink, o.maxFrame, reporter);
  const server = net.createServer((socket) => {
    if (connections.size >= o.maxConnections) {
      reporter.warn('too-many-connections', `refused a connection from ${socket.remoteAddress}: already ${o.maxConnections} open (--max-connections)`);
      socket.destroy();
      return;
    }
    connections.serve(socket);
  });
  let address: AddressInfo;
  try {
    address = await listen(server, o.host, o.port);
  } catch (err) {
    await sink.close();
    await release();
    throw err;
  }
  reporter.info(`listening on ${formatAddress(address)}, writing ${sink.path}, single-process`);

  let closing: Promise<ServerSummary> | null = null;
  let resolveClosed: (s: ServerSummary) => void = () => {};
  const closed = new Promise<ServerSummary>((r) => (resolveClosed = r));
  stop = (fatal?: string) => {
    closing ??= (async () => {
      server.close();
      await connections.drain(o.drainTimeout);
      await sink.close();
      await release();
      const summary: ServerSummary = { written: sink.written, ...statsOf(connections), fatal };
      reporter.info(summaryLine(summary, sink.path));
      resolveClosed(summary);
      return summary;
    })();
    return closing;
  };
  return { address, target: sink.path, close: () => stop(), closed };
}

function statsOf(c: ConnectionSet) {
  return { received: c.stats.received, refused: c.stats.refused, refusedBy: { ...c.stats.refusedBy } };
}

/**
 * Serves until SIGINT or SIGTERM, then drains and resolves: the TypeScript form of Python's
 * `serve_forever(HOST, PORT, target="logs.txt", multithreaded=False)`.
 * Rejects with ServerError if the server cannot start, or stops because it cannot go on.
 *
 * @example
 *   await serveForever('127.0.0.1', 9020, { target: 'logs.txt', multithreaded: true });
 */
export async function serveForever(host: string, port: number, options: Partial<ServerOptions> = {}): Promise<ServerSummary> {
  const server = await startServer({ ...options, host, port });
  const onSignal = () => void server.close();
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  // pm2 (wait_ready) and other supervisors: say "ready" once listening.
  if (typeof process.send === 'function' && !process.env.LOG_SERVER_WORKER) process.send('ready');
  try {
    const summary = await server.closed;
    if (summary.fatal) throw new ServerError(summary.fatal);
    return summary;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
