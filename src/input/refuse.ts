/**
 * The one refusal path of every input (a TCP frame, a UDP datagram, an HTTP request): one count by reason, one
 * rate-limited line on stderr, and the rejects file if there is one.
 */
import type { Reporter } from '../core/report';
import type { InputStats } from '../core/stats';
import { NOT_KEPT, type RejectedFrame } from '../core/refusals';

export type OnReject = ((r: RejectedFrame) => void) | null;

/** Counts `r`, reports it ("refused a datagram from 127.0.0.1:5000 (bad-pickle): …") and keeps it. */
export function refuse(stats: InputStats, reporter: Reporter, onReject: OnReject, what: string, r: RejectedFrame): void {
  stats.refused++;
  stats.refusedBy[r.reason] = (stats.refusedBy[r.reason] ?? 0) + 1;
  reporter.warn(r.reason, `refused ${what} from ${r.client} (${r.reason}): ${r.detail}`);
  if (!NOT_KEPT.has(r.reason)) onReject?.(r);
}
