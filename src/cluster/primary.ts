/**
 * Multithreaded mode, the primary: it binds the port, forks the workers (node:cluster, running worker.ts, never
 * the user's script), hands each accepted connection to the worker with the fewest, and is the only process
 * that writes the target. Workers send finished lines in batches down their lines pipes (lines-pipe.ts); when the
 * file writer falls behind, the primary asks every worker to pause its sockets until it catches up.
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
import { newInputStats, type InputStats } from '../input/tcp';
import { addStats, stopOnce, summaryLine, Writer, type ServerSummary } from '../writer';
import { stopAccepting } from '../listen';
import { announceStart, refuseConnection, type RunningServer } from '../server';
import type { ToPrimary, ToWorker, WorkerConfig } from './messages';
import { LINES_FD, readLinesPipe, WORKER_STDIO } from './lines-pipe';
import { ServerError } from '../options';
import { admitAll } from '../input/admit';
import { listenWithOtherInputs, registerInputStats, startOtherInputs, summaryCounts, type OtherInputs } from '../input/inputs';
import { countRefusedConnection, newServerStats, startMetrics, workerGone, type MetricsEndpoint } from '../metrics';
import { makeAllowCheck, refuseNotAllowed } from '../access';

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
  cluster.setupPrimary({ exec: join(__dirname, 'worker' + extname(self)), serialization: 'advanced', args: [], stdio: [...WORKER_STDIO] });
  const states = new Map<Worker, WorkerState>();
  const serverStats = newServerStats();
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
      const pipe = worker.process.stdio?.[LINES_FD] as net.Socket | null | undefined;
      // (No pipe: the fork itself failed, and 'exit' follows.)
      if (pipe) {
        const onLines = (lines: Buffer, count: number) => {
          if (!sink.write(lines, count) && !paused) {
            paused = true;
            broadcast({ t: 'pause' });
          }
        };
        const onCut = (lost: number | null) =>
          reporter.warn('worker-batch-cut', `worker ${worker.process.pid} ended in the middle of sending a batch of lines: ${lost === null ? 'the batch is lost (not even its size arrived)' : `${lost} of its lines are lost (its whole lines that arrived are written)`}`);
        linesPipes.push(readLinesPipe(pipe, onLines, onCut));
      }
      const state: WorkerState = { worker, connections: 0, ready: false };
      states.set(worker, state);
      worker.on('message', (msg: ToPrimary) => {
        switch (msg.t) {
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
          case 'stats':
            // After 'exit' its counts are in `gone` already (a message may be read after the exit).
            if (states.has(worker)) serverStats.remote.set(worker.id, msg.inputs);
            if (msg.inputs.tcp && !workerCounts.get(worker.id)?.final) workerCounts.set(worker.id, { tcp: msg.inputs.tcp, final: false });
            break;
          case 'stopped':
            if (states.has(worker)) serverStats.remote.set(worker.id, { tcp: msg.stats });
            workerCounts.set(worker.id, { tcp: msg.stats, final: true });
            break;
        }
      });
      worker.on('exit', (code, signal) => {
        states.delete(worker);
        openConnections -= state.connections;
        workerGone(serverStats, worker.id);
        if (stopping) return;
        serverStats.workerRestarts++;
        reporter.warn('worker-exit', `worker ${worker.process.pid} died (${signal ?? `exit code ${code}`}) with ${state.connections} connections; starting a new one`);
        setTimeout(() => {
          if (!stopping) void fork();
        }, 100).unref();
        resolveReady();
      });
    });

  await Promise.all(Array.from({ length: o.workers }, fork));

  let lastAccept = 0;
  const allowed = makeAllowCheck(o.allow);
  const server = net.createServer({ pauseOnConnect: true }, (socket) => {
    lastAccept = Date.now();
    if (allowed !== null && !allowed(socket.remoteAddress)) return refuseNotAllowed(socket, serverStats, reporter);
    if (openConnections >= o.maxConnections) {
      countRefusedConnection(serverStats, 'too-many-connections');
      return refuseConnection(socket, o, reporter);
    }
    let best: WorkerState | undefined;
    for (const s of states.values()) {
      if (s.ready && s.worker.isConnected() && (best === undefined || s.connections < best.connections)) best = s;
    }
    if (best === undefined) {
      countRefusedConnection(serverStats, 'no-worker');
      reporter.warn('no-worker', `no worker ready for the connection from ${socket.remoteAddress}; closing it`);
      socket.destroy();
      return;
    }
    best.connections++;
    openConnections++;
    best.worker.send({ t: 'conn' } satisfies ToWorker, socket);
  });

  let address: AddressInfo;
  let others: OtherInputs | undefined;
  let metrics: MetricsEndpoint | null = null;
  const unhealthy = () => ([...states.values()].some((s) => s.ready && s.worker.isConnected()) ? null : 'no worker ready');
  try {
    // UDP and HTTP are served here, in the primary, straight into the writer's sink (see input/inputs.ts); their
    // datagrams and requests are checked against --allow too.
    ({ address, others } = await listenWithOtherInputs(server, o, (tcp) => startOtherInputs(o, tcp, sink, reporter, (r) => writer.reject(r), allowed ?? admitAll)));
    if (o.metricsPort !== undefined) {
      metrics = await startMetrics(o.host, o.metricsPort, { stats: serverStats, sink: writer.sink, forwarder: writer.forwarder, openConnections: () => openConnections, rejectsDropped: () => writer.rejectsDropped, unhealthy });
    }
  } catch (err) {
    await others?.stop(0);
    server.close();
    stopping = true;
    // They have served nothing yet; a signal they would turn into a stop request is not wanted here.
    for (const { worker } of states.values()) worker.process.kill('SIGKILL');
    await writer.close();
    throw err;
  }
  const inputs: OtherInputs = others;
  registerInputStats(serverStats.inputs, inputs);
  serverStats.listening = true;
  announceStart(reporter, o, address, writer.path, `multithreaded with ${o.workers} workers`, metrics, inputs);

  const stopper = stopOnce(async (fatal?: string) => {
    serverStats.listening = false;
    reporter.info(`stopping: ${openConnections} connections open, draining for up to ${o.drainTimeout} ms`);
    const othersStopped = inputs.stop(o.drainTimeout);
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
    // Every worker's lines pipe, those of workers that died before too, read to its end: all their lines are queued.
    await Promise.all(linesPipes);
    await othersStopped;
    const written = await writer.close(o.drainTimeout);
    await metrics?.close();
    const tcp = newInputStats();
    for (const c of workerCounts.values()) addStats(tcp, c.tcp);
    const summary: ServerSummary = { written, ...summaryCounts(tcp, inputs), rejectsDropped: writer.rejectsDropped, fatal, forward: writer.forward };
    reporter.info(summaryLine(summary, writer.path));
    return summary;
  });
  stop = stopper;
  return { address, target: writer.path, close: () => stopper.run(), reopen: () => writer.reopen(reporter), closed: stopper.done, forward: writer.forwarder?.stats };
}
