/**
 * A worker of multithreaded mode: the primary hands it accepted sockets; it reads their frames, decodes and
 * formats the records and sends the finished lines back in batches, down its lines pipe. It never touches the
 * target file.
 *
 * A signal to a worker (pm2 signals every process of the tree at once) does not stop it by itself: it asks the
 * primary to stop, and the primary tells every worker when to drain.
 */
import type { Socket } from 'node:net';
import { ConnectionSet } from '../input/tcp';
import { makeLineMaker } from '../decode/record';
import { streamReporter } from '../core/report';
import { LinesPipeSink, openLinesPipe } from './lines-pipe';
import { STATS_INTERVAL_MS, type ToPrimary, type ToWorker, type WorkerConfig } from './messages';

const send = (msg: ToPrimary, done?: () => void) => process.send?.(msg, undefined, undefined, () => done?.());

function main(): void {
  const config = JSON.parse(process.env.LOGSERVER_WORKER_CONFIG ?? '{}') as WorkerConfig;
  const reporter = streamReporter(undefined, `log-server[worker ${process.pid}]`);
  const sink = new LinesPipeSink(openLinesPipe());
  const connections = new ConnectionSet(makeLineMaker(config), sink, config.maxFrame, reporter, (frame) => send({ t: 'reject', frame }));
  let stopping = false;
  // The counters go to the primary (which serves /metrics) when they changed, at most every STATS_INTERVAL_MS.
  let reported = -1;
  setInterval(() => {
    const s = connections.stats;
    const now = s.received + s.bytesIn + s.connectionsTotal;
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
        connections.serve(socket);
        socket.resume();
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
          await connections.drain(msg.drainTimeout);
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
