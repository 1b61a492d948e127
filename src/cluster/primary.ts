/**
 * Multithreaded mode, the primary: it binds the port, forks the workers (node:cluster, running worker.ts, never
 * the user's script), hands each accepted connection to the worker with the fewest, and is the only process
 * that writes the target. Workers send finished lines in batches; when the file writer falls behind, the
 * primary asks every worker to pause its sockets until it catches up.
 *
 * A worker that dies is reported and replaced; the lines it had already sent are written. On stop the primary
 * stops accepting, tells every worker to drain, waits for their last batches, then closes the file.
 */
import cluster, { type Worker } from 'node:cluster';
import * as net from 'node:net';
import { extname, join } from 'node:path';
import type { AddressInfo } from 'node:net';
import type { ServerOptions } from '../options';
import type { Reporter } from '../report';
import { newInputStats } from '../input/tcp';
import { addStats, stopOnce, summaryLine, Writer, type ServerSummary } from '../writer';
import { formatAddress, listen, stopAccepting } from '../listen';
import { refuseConnection, type RunningServer } from '../server';
import type { ToPrimary, ToWorker, WorkerConfig } from './messages';
import { ServerError } from '../options';

/** How long after the drain timeout a worker may take to send its last batch before it is killed. */
const WORKER_EXIT_GRACE_MS = 5000;

interface WorkerState {
  worker: Worker;
  connections: number;
  ready: boolean;
}

export async function startMultithreaded(o: ServerOptions, reporter: Reporter): Promise<RunningServer> {
  if (cluster.isWorker) {
    throw new ServerError(
      'multithreaded mode cannot run inside a cluster worker (pm2 cluster mode?): start log-server in fork mode (exec_mode: "fork"); it forks its own workers',
    );
  }
  // Until the server listens a stop request is ignored (a failed start cleans up by itself).
  let stop: { run: (fatal?: string) => Promise<ServerSummary> } | null = null;
  const writer = await Writer.open(o, reporter, (err) => {
    reporter.info(`lost the lock on ${o.target} (${err.message}); stopping`);
    void stop?.run(`lost the lock on ${o.target}`);
  });
  const sink = writer.entries;

  const config: WorkerConfig = { utc: o.utc, maxFrame: o.maxFrame, maxEntry: o.maxEntry };
  const self = __filename;
  cluster.setupPrimary({ exec: join(__dirname, 'worker' + extname(self)), serialization: 'advanced', args: [] });
  const states = new Map<Worker, WorkerState>();
  const stats = newInputStats();
  let stopping = false;
  let paused = false;
  let openConnections = 0;

  const broadcast = (msg: ToWorker) => {
    for (const { worker } of states.values()) if (worker.isConnected()) worker.send(msg);
  };
  sink.on('drain', () => {
    paused = false;
    broadcast({ t: 'resume' });
  });

  const fork = (): Promise<void> =>
    new Promise((resolveReady) => {
      const worker = cluster.fork({ LOG_SERVER_WORKER: '1', LOG_SERVER_WORKER_CONFIG: JSON.stringify(config) });
      const state: WorkerState = { worker, connections: 0, ready: false };
      states.set(worker, state);
      worker.on('message', (msg: ToPrimary) => {
        switch (msg.t) {
          case 'lines':
            if (!sink.write(Buffer.from(msg.lines.buffer, msg.lines.byteOffset, msg.lines.byteLength), msg.count) && !paused) {
              paused = true;
              broadcast({ t: 'pause' });
            }
            break;
          case 'ready':
            state.ready = true;
            if (paused) worker.send({ t: 'pause' } satisfies ToWorker);
            resolveReady();
            break;
          case 'conn-closed':
            state.connections--;
            openConnections--;
            break;
          case 'stop-request':
            if (stop === null) break;
            reporter.info(`worker ${worker.process.pid} got ${msg.signal}; stopping`);
            void stop.run();
            break;
          case 'reject':
            writer.reject(msg.frame);
            break;
          case 'stopped':
            addStats(stats, msg.stats);
            break;
        }
      });
      worker.on('exit', (code, signal) => {
        states.delete(worker);
        openConnections -= state.connections;
        if (stopping) return;
        reporter.warn('worker-exit', `worker ${worker.process.pid} died (${signal ?? `exit code ${code}`}) with ${state.connections} connections; starting a new one`);
        setTimeout(() => {
          if (!stopping) void fork();
        }, 100).unref();
        resolveReady();
      });
    });

  await Promise.all(Array.from({ length: o.workers }, fork));

  let lastAccept = 0;
  const server = net.createServer({ pauseOnConnect: true }, (socket) => {
    lastAccept = Date.now();
    if (openConnections >= o.maxConnections) return refuseConnection(socket, o, reporter);
    let best: WorkerState | undefined;
    for (const s of states.values()) {
      if (s.ready && s.worker.isConnected() && (best === undefined || s.connections < best.connections)) best = s;
    }
    if (best === undefined) {
      reporter.warn('no-worker', `no worker ready for the connection from ${socket.remoteAddress}; closing it`);
      socket.destroy();
      return;
    }
    best.connections++;
    openConnections++;
    best.worker.send({ t: 'conn' } satisfies ToWorker, socket);
  });

  let address: AddressInfo;
  try {
    address = await listen(server, o.host, o.port);
  } catch (err) {
    stopping = true;
    // They have served nothing yet; a signal they would turn into a stop request is not wanted here.
    for (const { worker } of states.values()) worker.process.kill('SIGKILL');
    await writer.close();
    throw err;
  }
  reporter.info(`listening on ${formatAddress(address)}, writing ${writer.path}, multithreaded with ${o.workers} workers`);

  const stopper = stopOnce(async (fatal?: string) => {
    reporter.info(`stopping: ${openConnections} connections open, draining for up to ${o.drainTimeout} ms`);
    await stopAccepting(server, () => lastAccept);
    stopping = true;
    await Promise.all(
      [...states.values()].map(
        ({ worker }) =>
          new Promise<void>((resolveExit) => {
            if (worker.isDead()) return resolveExit();
            const killTimer = setTimeout(() => {
              reporter.info(`worker ${worker.process.pid} did not finish in time; killing it`);
              worker.process.kill('SIGKILL');
            }, o.drainTimeout + WORKER_EXIT_GRACE_MS);
            // Both: 'disconnect' comes once every message it sent has been read, 'exit' once it is gone.
            let waiting = 2;
            const done = () => {
              if (--waiting > 0) return;
              clearTimeout(killTimer);
              resolveExit();
            };
            worker.once('disconnect', done);
            worker.once('exit', done);
            if (worker.isConnected()) worker.send({ t: 'stop', drainTimeout: o.drainTimeout } satisfies ToWorker);
          }),
      ),
    );
    const written = await writer.close(o.drainTimeout);
    const summary: ServerSummary = { written, received: stats.received, refused: stats.refused, refusedBy: stats.refusedBy, fatal, forward: writer.forward };
    reporter.info(summaryLine(summary, writer.path));
    return summary;
  });
  stop = stopper;
  return { address, target: writer.path, close: () => stopper.run(), reopen: () => writer.reopen(reporter), closed: stopper.done, forward: writer.forwarder?.stats };
}
