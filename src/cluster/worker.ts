/**
 * A worker of multithreaded mode: the primary hands it accepted sockets; it reads their frames, decodes and
 * formats the records and sends the finished lines back in batches, down its lines pipe. It never touches the
 * target file.
 *
 * A signal to a worker (pm2 signals every process of the tree at once) does not stop it by itself: it asks the
 * primary to stop, and the primary tells every worker when to drain.
 *
 * With TLS, the worker serves the handshake of each socket it is handed (net/tls.ts TlsAcceptor) and reads the
 * decrypted stream; the primary only accepts. TLS ends here, not in the primary, because:
 * - the handshake (a signature per connection) and the decryption of every byte are CPU work that grows with the
 *   clients, which is what the workers are for; in the primary they would compete with the one file writer,
 *   and every byte would cross the IPC channel a second time, decrypted;
 * - a process can hand on only a plain socket (its file descriptor), never the TLS state of a connection, so the
 *   primary must hand over connections before their handshake in any case;
 * - the listening socket and the accepted sockets stay plain TCP in the primary, which is what passing listeners
 *   and connections to other processes needs.
 * The primary reads and checks the certificate files (at start, and on SIGHUP) and sends what they hold to every
 * worker in a 'tls' message before any connection, so every worker uses the same certificates; the files are
 * never read by a worker, and a bad new file is refused once, by the primary, before any worker sees it.
 */
import type { Socket } from 'node:net';
import { ConnectionSet } from '../input/tcp';
import { makeLineMaker } from '../decode/record';
import { streamReporter } from '../core/report';
import { ClientField } from '../format/client-field';
import { TlsAcceptor, TlsContext } from '../net/tls';
import { LinesPipeSink, openLinesPipe } from './lines-pipe';
import { STATS_INTERVAL_MS, type ToPrimary, type ToWorker, type WorkerConfig } from './messages';

const send = (msg: ToPrimary, done?: () => void) => process.send?.(msg, undefined, undefined, () => done?.());

function main(): void {
  const config = JSON.parse(process.env.LOGSERVER_WORKER_CONFIG ?? '{}') as WorkerConfig;
  const reporter = streamReporter(undefined, `log-server[worker ${process.pid}]`);
  const sink = new LinesPipeSink(openLinesPipe());
  const field = config.clientField === undefined ? null : new ClientField(config.clientField);
  const connections = new ConnectionSet(
    makeLineMaker(config),
    sink,
    config.maxFrame,
    reporter,
    (frame) => send({ t: 'reject', frame }),
    field,
  );
  /** With TLS: made from the primary's first 'tls' message. */
  let acceptor: TlsAcceptor | null = null;
  let stopping = false;
  // The counters go to the primary (which serves /metrics) when they changed, at most every STATS_INTERVAL_MS.
  let reported = -1;
  setInterval(() => {
    const s = connections.stats;
    let now = s.received + s.bytesIn + s.connectionsTotal + s.tlsHandshakes;
    for (const n of Object.values(s.tlsFailedBy)) now += n;
    if (now === reported || stopping) return;
    reported = now;
    send({ t: 'stats', inputs: { tcp: s } });
  }, STATS_INTERVAL_MS).unref();

  process.on('message', (msg: ToWorker, handle?: unknown) => {
    switch (msg.t) {
      case 'conn': {
        const socket = handle as Socket;
        const address = socket.remoteAddress ?? '';
        socket.on('close', () => send({ t: 'conn-closed', address }));
        if (config.tlsHandshakeTimeout === undefined) {
          connections.serve(socket);
          socket.resume();
        } else if (acceptor !== null) acceptor.accept(socket);
        else socket.destroy(); // (cannot happen: the certificates come first)
        break;
      }
      case 'tls': {
        const context = TlsContext.from(msg.files, msg.material);
        if (acceptor !== null) acceptor.setContext(context);
        else
          acceptor = new TlsAcceptor(context, {
            handshakeTimeout: config.tlsHandshakeTimeout ?? 10_000,
            input: 'tcp',
            stats: connections.stats,
            reporter,
            onSecure: (socket) => connections.serve(socket),
          });
        break;
      }
      case 'pause':
        sink.setPrimaryPaused(true);
        break;
      case 'resume':
        sink.setPrimaryPaused(false);
        break;
      case 'stop':
        if (stopping) break;
        stopping = true;
        void (async () => {
          const started = Date.now();
          await acceptor?.finishPending(Math.min(msg.drainTimeout, 1000));
          await connections.drain(Math.max(0, msg.drainTimeout - (Date.now() - started)));
          // The pipe is closed once its last batch is written: the primary reads it to the end.
          await sink.end();
          send({ t: 'stopped', stats: connections.stats }, () => process.disconnect());
        })();
        break;
    }
  });
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.on(signal, () => send({ t: 'stop-request', signal }));
  }
  // A hangup reopens files, which only the primary has; it must not end a worker (its default action).
  process.on('SIGHUP', () => {});
  // The primary is gone (killed): nothing can be written any more.
  process.on('disconnect', () => process.exit(stopping ? 0 : 1));
  send({ t: 'ready' });
}

main();
