/**
 * How accepted TCP connections are served: the one thing the two modes differ in. The server's startup and stop
 * (server/start.ts) are written once and given a backend: in-process (this file: the connections are read,
 * decoded and written to in this process) or the worker pool (cluster/pool.ts: each connection is handed to a
 * worker process, whose lines come back down a pipe).
 */
import type { ServerOpts, Socket } from 'node:net';
import { ConnectionSet } from './tcp';
import { makeLineMaker } from '../decode/record';
import { ClientField } from '../format/client-field';
import { TlsAcceptor, type TlsContext } from '../net/tls';
import type { RejectedFrame } from '../core/refusals';
import type { Reporter } from '../core/report';
import type { InputStats, ServerStats } from '../core/stats';
import type { EntrySink } from '../sink/sink';

export interface TcpBackend {
  /** The mode, as the start line says it ("single-process", "multithreaded with 2 workers"). */
  readonly label: string;
  /** How the listener must accept (the pool takes sockets paused, to hand them on unread). */
  readonly listenerOptions: ServerOpts;
  /** Connections being served now (for --max-connections and the stop line). */
  openConnections(): number;
  /**
   * Serves a connection that passed --allow and the connection limits (or closes it, counted, if it cannot);
   * `onClosed` is called once when the connection has ended, wherever it was served. With TLS, the handshake is
   * served where the connection is (this process, or a worker).
   */
  serve(socket: Socket, onClosed: () => void): void;
  /** With TLS: new connections use `context` (SIGHUP read the files again); open ones keep theirs. */
  setTls(context: TlsContext): void;
  /** Lets open connections finish within `timeoutMs`; resolves once every line they made is in the sink. */
  drain(timeoutMs: number): Promise<void>;
  /** The TCP input's counters, for the stop summary. */
  tcpStats(): InputStats;
  /** A reason the server is unhealthy that only this backend knows (e.g. "no worker ready"), or null. */
  unhealthy(): string | null;
  /** After a failed start: ends at once whatever the backend started. */
  abort(): void;
}

/** What a backend is given to work with. */
export interface BackendContext {
  readonly options: {
    utc: boolean;
    maxFrame: number;
    maxEntry: number;
    workers: number;
    drainTimeout: number;
    tlsHandshakeTimeout: number;
    clientField?: string;
  };
  /** With --tls-cert: the TCP input speaks TLS only. */
  readonly tls: TlsContext | null;
  readonly reporter: Reporter;
  /** Where the lines go (the writer's sink). */
  readonly sink: EntrySink;
  /** Keeps a refused frame (the rejects file). */
  readonly reject: (r: RejectedFrame) => void;
  /** The server's counters: a backend registers its TCP counters here. */
  readonly stats: ServerStats;
  /** Asks the server to stop (a worker got SIGINT or SIGTERM); ignored until it has started. */
  readonly requestStop: () => void;
}

export type StartBackend = (ctx: BackendContext) => Promise<TcpBackend>;

/** Single-process mode: this process reads, decodes and formats every connection. */
export const startInProcess: StartBackend = async (ctx) => {
  const field = ctx.options.clientField === undefined ? null : new ClientField(ctx.options.clientField);
  const connections = new ConnectionSet(makeLineMaker(ctx.options), ctx.sink, ctx.options.maxFrame, ctx.reporter, ctx.reject, field);
  ctx.stats.inputs.set('tcp', connections.stats);
  const acceptor =
    ctx.tls === null
      ? null
      : new TlsAcceptor(ctx.tls, {
          handshakeTimeout: ctx.options.tlsHandshakeTimeout,
          input: 'tcp',
          stats: connections.stats,
          reporter: ctx.reporter,
          onSecure: (socket) => connections.serve(socket),
        });
  return {
    label: 'single-process',
    listenerOptions: {},
    // Handshakes under way hold a connection too (for --max-connections).
    openConnections: () => connections.size + (acceptor?.pending ?? 0),
    serve(socket, onClosed) {
      socket.once('close', onClosed);
      if (acceptor !== null) acceptor.accept(socket);
      else connections.serve(socket);
    },
    setTls: (context) => acceptor?.setContext(context),
    async drain(timeoutMs) {
      // A handshake normally takes milliseconds; one that is still going after a second is not waited for.
      const started = Date.now();
      await acceptor?.finishPending(Math.min(timeoutMs, 1000));
      await connections.drain(Math.max(0, timeoutMs - (Date.now() - started)));
    },
    tcpStats: () => connections.stats,
    unhealthy: () => null,
    abort() {},
  };
};
