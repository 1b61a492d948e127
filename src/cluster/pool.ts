/**
 * Multithreaded mode's TCP backend, the worker pool: the primary forks the workers (node:cluster, running
 * worker.ts, never the user's script), hands each accepted connection to the worker with the fewest, and is the
 * only process that writes the target. Workers send finished lines in batches down their lines pipes
 * (lines-pipe.ts); when the file writer falls behind, the primary asks every worker to pause its sockets until it
 * catches up.
 *
 * A worker that dies is reported and replaced; the lines it had already sent are written. On drain the primary
 * tells every worker to drain and waits for their last batches. Everything else about starting and stopping is
 * the server's (server/start.ts), the same in both modes.
 */
import cluster, { type Worker } from 'node:cluster';
import type { Socket } from 'node:net';
import { extname, join } from 'node:path';
import { ServerError } from '../core/errors';
import { addStats, countRefusedConnection, newInputStats, workerGone, type InputStats } from '../core/stats';
import type { StartBackend } from '../input/tcp-backend';
import type { ToPrimary, ToWorker, WorkerConfig } from './messages';
import { LINES_FD, readLinesPipe, WORKER_STDIO } from './lines-pipe';

/** How long after the drain timeout a worker may take to send its last batch before it is killed. */
const WORKER_EXIT_GRACE_MS = 5000;

interface WorkerState {
  worker: Worker;
  connections: number;
  ready: boolean;
  /** What to call when each of its connections ends, by client address, oldest first. */
  closers: Map<string, (() => void)[]>;
}

/** Forks `options.workers` workers and resolves once each is ready (or died trying: it is replaced). */
export const startWorkerPool: StartBackend = async ({ options: o, tls, reporter, sink, reject, stats, requestStop }) => {
  if (cluster.isWorker) {
    throw new ServerError(
      'LOGSERVER_ERR_CLUSTER_WORKER',
      'multithreaded mode cannot run inside a cluster worker (pm2 cluster mode?): start log-server in fork mode (exec_mode: "fork"); it forks its own workers',
    );
  }
  const config: WorkerConfig = {
    utc: o.utc,
    maxFrame: o.maxFrame,
    maxEntry: o.maxEntry,
    clientField: o.clientField,
    tlsHandshakeTimeout: tls === null ? undefined : o.tlsHandshakeTimeout,
  };
  /** With TLS, the certificates every worker serves handshakes with (a new worker gets the current ones). */
  let tlsNow = tls;
  const tlsMessage = (): ToWorker | null => (tlsNow === null ? null : { t: 'tls', files: tlsNow.files, material: tlsNow.material });
  cluster.setupPrimary({
    exec: join(__dirname, 'worker' + extname(__filename)),
    serialization: 'advanced',
    args: [],
    stdio: [...WORKER_STDIO],
  });
  const states = new Map<Worker, WorkerState>();
  /** For the stop summary, each worker's TCP counters: its final ones once it stopped (whenever that message is
   * read), else the last it reported (a worker killed with kill -9 sends no final ones). */
  const workerCounts = new Map<number, { tcp: InputStats; final: boolean }>();
  /** Resolve once each worker's lines pipe has been read to its end (the worker closed it, or exited). */
  const linesPipes: Promise<void>[] = [];
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
      const worker = cluster.fork({ LOGSERVER_WORKER: '1', LOGSERVER_WORKER_CONFIG: JSON.stringify(config) });
      const pipe = worker.process.stdio?.[LINES_FD] as Socket | null | undefined;
      // (No pipe: the fork itself failed, and 'exit' follows.)
      if (pipe) {
        const onLines = (lines: Buffer, count: number) => {
          if (!sink.write(lines, count) && !paused) {
            paused = true;
            broadcast({ t: 'pause' });
          }
        };
        const onCut = (lost: number | null) =>
          reporter.warn(
            'worker-batch-cut',
            `worker ${worker.process.pid} ended in the middle of sending a batch of lines: ${lost === null ? 'the batch is lost (not even its size arrived)' : `${lost} of its lines are lost (its whole lines that arrived are written)`}`,
          );
        linesPipes.push(readLinesPipe(pipe, onLines, onCut));
      }
      const state: WorkerState = { worker, connections: 0, ready: false, closers: new Map() };
      states.set(worker, state);
      // Before any connection (messages arrive in order): TLS is terminated in the worker (worker.ts).
      const certificates = tlsMessage();
      if (certificates !== null) worker.send(certificates);
      worker.on('message', (msg: ToPrimary) => {
        switch (msg.t) {
          case 'ready':
            state.ready = true;
            if (paused) worker.send({ t: 'pause' } satisfies ToWorker);
            resolveReady();
            break;
          case 'conn-closed': {
            state.connections--;
            openConnections--;
            const waiting = state.closers.get(msg.address);
            waiting?.shift()?.();
            if (waiting?.length === 0) state.closers.delete(msg.address);
            break;
          }
          case 'stop-request':
            reporter.info(`worker ${worker.process.pid} got ${msg.signal}; stopping`);
            requestStop();
            break;
          case 'reject':
            reject(msg.frame);
            break;
          case 'stats':
            // After 'exit' its counts are in `gone` already (a message may be read after the exit).
            if (states.has(worker)) stats.remote.set(worker.id, msg.inputs);
            if (msg.inputs.tcp && !workerCounts.get(worker.id)?.final) workerCounts.set(worker.id, { tcp: msg.inputs.tcp, final: false });
            break;
          case 'stopped':
            if (states.has(worker)) stats.remote.set(worker.id, { tcp: msg.stats });
            workerCounts.set(worker.id, { tcp: msg.stats, final: true });
            break;
        }
      });
      worker.on('exit', (code, signal) => {
        states.delete(worker);
        openConnections -= state.connections;
        for (const waiting of state.closers.values()) for (const onClosed of waiting) onClosed();
        state.closers.clear();
        workerGone(stats, worker.id);
        if (stopping) return;
        stats.workerRestarts++;
        reporter.warn(
          'worker-exit',
          `worker ${worker.process.pid} died (${signal ?? `exit code ${code}`}) with ${state.connections} connections; starting a new one`,
        );
        setTimeout(() => {
          if (!stopping) void fork();
        }, 100).unref();
        resolveReady();
      });
    });

  /** Waits until `worker` has sent its last message and exited, killing it after the drain time and a grace. */
  const stopWorker = (worker: Worker) =>
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
    });

  await Promise.all(Array.from({ length: o.workers }, fork));

  return {
    label: `multithreaded with ${o.workers} workers`,
    listenerOptions: { pauseOnConnect: true },
    openConnections: () => openConnections,
    serve(socket, onClosed) {
      let best: WorkerState | undefined;
      for (const s of states.values()) {
        if (s.ready && s.worker.isConnected() && (best === undefined || s.connections < best.connections)) best = s;
      }
      if (best === undefined) {
        countRefusedConnection(stats, 'no-worker');
        reporter.warn('no-worker', `no worker ready for the connection from ${socket.remoteAddress}; closing it`);
        socket.destroy();
        onClosed();
        return;
      }
      best.connections++;
      openConnections++;
      const address = socket.remoteAddress ?? '';
      best.closers.set(address, [...(best.closers.get(address) ?? []), onClosed]);
      best.worker.send({ t: 'conn' } satisfies ToWorker, socket);
    },
    setTls(context) {
      tlsNow = context;
      broadcast(tlsMessage()!);
    },
    async drain() {
      stopping = true;
      await Promise.all([...states.values()].map(({ worker }) => stopWorker(worker)));
      // Every worker's lines pipe, those of workers that died before too, read to its end: all their lines are queued.
      await Promise.all(linesPipes);
    },
    tcpStats() {
      const tcp = newInputStats();
      for (const c of workerCounts.values()) addStats(tcp, c.tcp);
      return tcp;
    },
    unhealthy: () => ([...states.values()].some((s) => s.ready && s.worker.isConnected()) ? null : 'no worker ready'),
    abort() {
      stopping = true;
      // They have served nothing yet; a signal they would turn into a stop request is not wanted here.
      for (const { worker } of states.values()) worker.process.kill('SIGKILL');
    },
  };
};
