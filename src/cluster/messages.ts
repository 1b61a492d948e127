import type { InputStats } from '../core/stats';
import type { RejectedFrame } from '../core/refusals';
import type { TlsFiles, TlsMaterial } from '../net/tls';

/** How often a worker sends its counters to the primary (when they changed), for /metrics. */
export const STATS_INTERVAL_MS = 250;

/** Settings a worker needs, passed in its environment as JSON (LOGSERVER_WORKER_CONFIG). */
export interface WorkerConfig {
  utc: boolean;
  maxFrame: number;
  maxEntry: number;
  /** --client-field. */
  clientField?: string;
  /** With TLS: the handshake timeout (the certificates come in a 'tls' message, not in the environment). */
  tlsHandshakeTimeout?: number;
}

/**
 * Primary → worker. A 'conn' message carries the accepted socket as its handle. 'tls' carries what the TLS files
 * held (read and checked by the primary), before the first connection and again after each reload.
 */
export type ToWorker =
  | { t: 'conn' }
  | { t: 'pause' }
  | { t: 'resume' }
  | { t: 'stop'; drainTimeout: number }
  | { t: 'tls'; files: TlsFiles; material: TlsMaterial };

/** Worker → primary. (Finished lines go down the lines pipe, lines-pipe.ts, not the IPC channel.) */
export type ToPrimary =
  | { t: 'ready' }
  | { t: 'conn-closed'; address: string }
  | { t: 'reject'; frame: RejectedFrame }
  | { t: 'stop-request'; signal: string }
  | { t: 'stats'; inputs: Record<string, InputStats> }
  | { t: 'stopped'; stats: InputStats };
