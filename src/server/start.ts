/**
 * Starting and stopping, written once for both modes. The sequence: open the writer (the target, its lock, the
 * rejects file, the forwarder), start the TCP backend (in-process connections, or the worker pool), listen on TCP
 * with UDP and HTTP beside it, serve metrics, say where it listens; on stop, the reverse, in one order. The
 * backend (input/tcp-backend.ts) is the only part that differs between the modes.
 *
 * A lost lock stops the server at any moment: while starting, the start fails (LOGSERVER_ERR_LOCK_LOST) and
 * everything it opened is closed; while serving, the server stops on its own; while stopping, the stop goes on.
 * Each time the summary's `fatal` says so and the CLI exits 1.
 */
import * as net from 'node:net';
import type { AddressInfo } from 'node:net';
import { resolveOptions, type ResolvedOptions, type ServerOptions } from '../config/options';
import { ServerError } from '../core/errors';
import { stopOnce } from '../core/once';
import { streamReporter, type Reporter } from '../core/report';
import { countRefusedConnection, newServerStats } from '../core/stats';
import { nativeMissing } from '../decode/native';
import { ConnectionsPerClient, clientAddress, makeAllowCheck, openToAllWarning, refuseNotAllowed } from '../net/access';
import { formatAddress, stopAccepting } from '../net/listen';
import { readIntoMissing } from '../net/read-into';
import { TlsContext } from '../net/tls';
import { listenWithOtherInputs, registerInputStats, startOtherInputs, type OtherInputs } from '../input/inputs';
import { startInProcess, type StartBackend, type TcpBackend } from '../input/tcp-backend';
import { startWorkerPool } from '../cluster/pool';
import { Writer } from '../output/writer';
import { startMetrics, type MetricsEndpoint } from '../ops/metrics';
import type { ForwardStats } from '../nats/forwarder';
import { summaryCounts, summaryLine, type ServerSummary } from './summary';

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
  /**
   * With TLS: reads the certificate, key and CA files again; new connections use them, open ones keep theirs.
   * Resolves true once they are in use, false if a new file cannot be used (said on the reporter; the old ones
   * stay). Without TLS: resolves false.
   */
  reloadTls(): Promise<boolean>;
  /** Resolves once the server has stopped, whether by close() or on its own (see `ServerSummary.fatal`). */
  readonly closed: Promise<ServerSummary>;
  /** With --forward: the forwarder's live numbers (connection, rate, buffer, failures). */
  readonly forward?: ForwardStats;
}

/**
 * Starts a server and resolves once it listens. Rejects with a ServerError (see its `code`) if it cannot.
 *
 * @example
 *   const server = await startServer({ port: 0, target: 'logs.txt' });
 *   console.log(server.address.port);
 *   await server.close();
 */
export async function startServer(options: Partial<ServerOptions> = {}): Promise<RunningServer> {
  const o = resolveOptions(options);
  return start(o, o.reporter ?? streamReporter(), o.multithreaded ? startWorkerPool : startInProcess);
}

async function start(o: ResolvedOptions, reporter: Reporter, startBackend: StartBackend): Promise<RunningServer> {
  // The TLS files first: a bad one stops the start before anything is opened or created.
  const tlsFiles = o.tlsCert === undefined ? null : { cert: o.tlsCert, key: o.tlsKey!, ca: o.tlsCa };
  let tls = tlsFiles === null ? null : await TlsContext.load(tlsFiles);
  const tlsReloads = { ok: 0, failed: 0 };
  /** Set once the lock is lost, with the reason; checked after each step of the start, read by the stop. */
  let lockLost: string | null = null;
  let stop: ((fatal?: string) => Promise<ServerSummary>) | null = null;
  const writer = await Writer.open(o, reporter, (err) => {
    if (lockLost !== null) return;
    lockLost = `lost the lock on ${o.target} (${err.message})`;
    // While starting, the failed start says it (one line, from the CLI).
    if (stop === null) return;
    reporter.info(`${lockLost}; stopping`);
    void stop(lockLost);
  });
  const stats = newServerStats();
  let backend: TcpBackend | undefined;
  let listener: net.Server | undefined;
  let others: OtherInputs | undefined;
  let metrics: MetricsEndpoint | null = null;
  let address: AddressInfo;
  let lastAccept = 0;
  const afterStep = () => {
    if (lockLost !== null) throw new ServerError('LOGSERVER_ERR_LOCK_LOST', `${lockLost} while starting`);
  };
  try {
    afterStep();
    const tcp = (backend = await startBackend({
      options: o,
      tls,
      reporter,
      sink: writer.entries,
      reject: (r) => writer.reject(r),
      stats,
      requestStop: () => void stop?.(),
    }));
    afterStep();
    const allowed = makeAllowCheck(o.allow);
    const perClient = new ConnectionsPerClient(o.maxConnectionsPerClient);
    listener = net.createServer(tcp.listenerOptions, (socket) => {
      lastAccept = Date.now();
      if (!allowed(socket.remoteAddress)) return refuseNotAllowed(socket, stats, reporter);
      if (tcp.openConnections() >= o.maxConnections) {
        countRefusedConnection(stats, 'too-many-connections');
        reporter.warn(
          'too-many-connections',
          `refused a connection from ${socket.remoteAddress}:${socket.remotePort}: already ${o.maxConnections} open (--max-connections)`,
        );
        socket.destroy();
        return;
      }
      const client = clientAddress(socket.remoteAddress);
      const onClosed = perClient.admit(client);
      if (onClosed === null) {
        countRefusedConnection(stats, 'too-many-from-client');
        reporter.warn(
          'too-many-from-client',
          `refused a connection from ${socket.remoteAddress}:${socket.remotePort}: already ${o.maxConnectionsPerClient} open from ${client} (--max-connections-per-client)`,
        );
        socket.destroy();
        return;
      }
      tcp.serve(socket, onClosed);
    });
    // UDP and HTTP are served in this process, straight into the writer's sink (input/inputs.ts); their datagrams
    // and requests are checked against --allow too.
    ({ address, others } = await listenWithOtherInputs(listener, o, (at) =>
      startOtherInputs(
        o,
        at,
        writer.entries,
        reporter,
        (r) => writer.reject(r),
        allowed,
        (reason) => countRefusedConnection(stats, reason),
        tls,
      ),
    ));
    afterStep();
    if (o.metricsPort !== undefined) {
      metrics = await startMetrics(o.host, o.metricsPort, {
        stats,
        sink: writer.sink,
        forwarder: writer.forwarder,
        openConnections: () => tcp.openConnections(),
        rejectsDropped: () => writer.rejectsDropped,
        unhealthy: () => tcp.unhealthy() ?? tls?.certificateProblem() ?? null,
        tls: tls === null ? undefined : { context: () => tls!, reloads: tlsReloads },
      });
    }
    afterStep();
  } catch (err) {
    await others?.stop(0);
    listener?.close();
    backend?.abort();
    await metrics?.close();
    await writer.abandon();
    throw err;
  }
  const tcp: TcpBackend = backend;
  const inputs: OtherInputs = others;
  const server: net.Server = listener;
  registerInputStats(stats.inputs, inputs);
  stats.listening = true;
  announceStart(reporter, o, address, writer.path, tcp.label, metrics, inputs, tls);

  /** SIGHUP: the TLS files again; a file that cannot be used is said, and the ones in use stay. */
  const reloadTls = async (): Promise<boolean> => {
    if (tlsFiles === null) return false;
    let next: TlsContext;
    try {
      next = await TlsContext.load(tlsFiles);
    } catch (err) {
      tlsReloads.failed++;
      reporter.info(`kept the TLS certificates in use: ${(err as Error).message}`);
      return false;
    }
    tls = next;
    tcp.setTls(next);
    inputs.setTls(next);
    tlsReloads.ok++;
    const problem = next.certificateProblem();
    reporter.info(
      `TLS files read again: certificate ${next.describeCertificate()}; ${next.describeClients()}${problem ? `; warning: ${problem}` : ''}`,
    );
    return true;
  };

  const stopper = stopOnce(async (fatal?: string) => {
    stats.listening = false;
    reporter.info(`stopping: ${tcp.openConnections()} connections open, draining for up to ${o.drainTimeout} ms`);
    const othersStopped = inputs.stop(o.drainTimeout);
    await stopAccepting(server, () => lastAccept);
    await tcp.drain(o.drainTimeout);
    await othersStopped;
    const written = await writer.close(o.drainTimeout);
    await metrics?.close();
    const others = Object.fromEntries(
      [inputs.udp && ['udp', inputs.udp.stats], inputs.http && ['http', inputs.http.stats]].filter((e) => !!e),
    );
    // A lock lost while stopping still makes the stop a failure.
    const summary: ServerSummary = {
      written,
      ...summaryCounts(tcp.tcpStats(), others),
      rejectsDropped: writer.rejectsDropped,
      fatal: fatal ?? lockLost ?? undefined,
      forward: writer.forward,
    };
    reporter.info(summaryLine(summary, writer.path));
    return summary;
  });
  stop = stopper.run;
  return {
    address,
    target: writer.path,
    close: () => stopper.run(),
    reopen: () => writer.reopen(reporter),
    reloadTls,
    closed: stopper.done,
    forward: writer.forwarder?.stats,
  };
}

/** The start lines, the same in both modes: where it listens and writes, the open-to-all warning, metrics, UDP/HTTP. */
function announceStart(
  reporter: Reporter,
  o: ResolvedOptions,
  address: AddressInfo,
  writing: string,
  mode: string,
  metrics: MetricsEndpoint | null,
  inputs: OtherInputs,
  tls: TlsContext | null,
): void {
  reporter.info(`listening on ${formatAddress(address)}, writing ${writing}, ${mode}`);
  if (tls !== null) {
    const problem = tls.certificateProblem();
    reporter.info(
      `TLS on: ${inputs.http ? 'TCP and HTTP (HTTPS) speak' : 'TCP speaks'} TLS only, certificate ${tls.describeCertificate()}; ${tls.describeClients()}${problem ? `; warning: ${problem}` : ''}`,
    );
    if (inputs.udp)
      reporter.info(
        'warning: UDP is on beside TLS (--udp): datagrams are not encrypted and their sender is not verified; anyone who can reach the port can write records over UDP',
      );
  }
  if (nativeMissing !== null)
    reporter.info(
      `decoding with the TypeScript transcoder, about 3x slower: the C++ one is not used because ${nativeMissing}; \`npm run install\` builds it (needs g++ and make)`,
    );
  if (readIntoMissing !== null)
    reporter.info(
      `reading sockets into a new buffer per read (more memory and CPU at full speed), not one reused buffer: ${readIntoMissing}`,
    );
  const warning = openToAllWarning(o.host, address.port, o.allow);
  if (warning !== null) reporter.info(warning);
  if (metrics !== null) reporter.info(metrics.line);
  const also = inputs.describe();
  if (also !== null) reporter.info(`also listening on ${also}`);
}
