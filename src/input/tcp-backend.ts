/**
 * How accepted TCP connections are served: the one thing the two modes differ in. The server's startup and stop
 * (server/start.ts) are written once and given a backend: in-process (this file: the connections are read,
 * decoded and written to in this process) or the worker pool (cluster/pool.ts: each connection is handed to a
 * worker process, whose lines come back down a pipe).
 */
import type { ServerOpts, Socket } from 'node:net';
import { ConnectionSet } from './tcp';
import { makeLineMaker } from '../decode/record';
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
   * `onClosed` is called once when the connection has ended, wherever it was served.
   */
  serve(socket: Socket, onClosed: () => void): void;
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
  readonly options: { utc: boolean; maxFrame: number; maxEntry: number; workers: number; drainTimeout: number };
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
  const connections = new ConnectionSet(makeLineMaker(ctx.options), ctx.sink, ctx.options.maxFrame, ctx.reporter, ctx.reject);
  ctx.stats.inputs.set('tcp', connections.stats);
  return {
    label: 'single-process',
    listenerOptions: {},
    openConnections: () => connections.size,
    serve(socket, onClosed) {
      socket.once('close', onClosed);
      connections.serve(socket);
    },
    drain: (timeoutMs) => connections.drain(timeoutMs),
    tcpStats: () => connections.stats,
    unhealthy: () => null,
    abort() {},
  };
};
