import type { InputStats } from '../core/stats';
import type { RejectedFrame } from '../core/refusals';

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

/** Worker → primary. (Finished lines go down the lines pipe, lines-pipe.ts, not the IPC channel.) */
export type ToPrimary =
  | { t: 'ready' }
  | { t: 'conn-closed'; address: string }
  | { t: 'reject'; frame: RejectedFrame }
  | { t: 'stop-request'; signal: string }
  | { t: 'stats'; inputs: Record<string, InputStats> }
  | { t: 'stopped'; stats: InputStats };
