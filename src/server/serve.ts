/**
 * `serveForever`: the blocking form of the original `serve_forever`, with the process's signals wired to the
 * server (SIGINT and SIGTERM stop it, SIGHUP reopens the target and reads the TLS files again) and "ready" said to a
 * supervisor.
 */
import cluster from 'node:cluster';
import type { ServerOptions } from '../config/options';
import { ServerError } from '../core/errors';
import { startServer } from './start';
import type { ServerSummary } from './summary';

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
    throw new ServerError(
      'LOGSERVER_ERR_CLUSTER_WORKER',
      'cannot run as a cluster worker (pm2 cluster mode?): start it in fork mode (exec_mode: "fork", one instance); use --multithreaded for more processes',
    );
  }
  const server = await startServer({ ...options, host, port });
  const onSignal = () => void server.close();
  // SIGHUP: logrotate's reopen, and the TLS certificates read again (a bad new one is said; the old ones stay).
  const onHangup = () => {
    server.reopen();
    void server.reloadTls();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  process.on('SIGHUP', onHangup);
  // pm2 (wait_ready) and other supervisors: say "ready" once listening.
  if (typeof process.send === 'function' && !process.env.LOGSERVER_WORKER) process.send('ready');
  try {
    const summary = await server.closed;
    if (summary.fatal) throw new ServerError('LOGSERVER_ERR_LOCK_LOST', summary.fatal, { reported: true });
    return summary;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    process.off('SIGHUP', onHangup);
  }
}
