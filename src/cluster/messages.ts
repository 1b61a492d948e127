import type { InputStats, RejectedFrame } from '../input/tcp';

/** How often a worker sends its counters to the primary (when they changed), for /metrics. */
export const STATS_INTERVAL_MS = 250;

/** Settings a worker needs, passed in its environment as JSON (LOGSERVER_WORKER_CONFIG). */
export interface WorkerConfig {
  utc: boolean;
  maxFrame: number;
  maxEntry: number;
}

/** Primary → worker. A 'conn' message carries the accepted socket as its handle. */
export type ToWorker = { t: 'conn' } | { t: 'pause' } | { t: 'resume' } | { t: 'stop'; drainTimeout: number };

/** Worker → primary. 'lines' is a batch of finished entries, in the order they were made. */
export type ToPrimary =
  | { t: 'ready' }
  | { t: 'lines'; lines: Uint8Array; count: number }
  | { t: 'conn-closed' }
  | { t: 'reject'; frame: RejectedFrame }
  | { t: 'stop-request'; signal: string }
  | { t: 'stats'; inputs: Record<string, InputStats> }
  | { t: 'stopped'; stats: InputStats };
