/**
 * A refused datagram or request, counted and reported as the TCP input does for a refused frame: one count by
 * reason, one rate-limited line on stderr, and the rejects file if there is one.
 */
import type { InputStats, RejectedFrame } from './tcp';
import type { Reporter } from '../report';

export type OnReject = ((r: RejectedFrame) => void) | null;

/**
 * Reasons counted and reported but not kept in the rejects file: a sender outside --allow (nothing from it is
 * stored), and UDP overflow (kept, it would add to the very backlog that caused it).
 */
const NOT_KEPT = new Set(['not-allowed', 'overflow']);

/** Counts `r`, reports it ("refused a datagram from 127.0.0.1:5000 (bad-pickle): …") and keeps it. */
export function refuse(stats: InputStats, reporter: Reporter, onReject: OnReject, what: string, r: RejectedFrame): void {
  stats.refused++;
  stats.refusedBy[r.reason] = (stats.refusedBy[r.reason] ?? 0) + 1;
  reporter.warn(r.reason, `refused ${what} from ${r.client} (${r.reason}): ${r.detail}`);
  if (!NOT_KEPT.has(r.reason)) onReject?.(r);
}
