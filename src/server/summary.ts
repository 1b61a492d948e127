/**
 * The stop summary: what a server wrote, received and refused, as a value (what close() resolves with) and as
 * the one line it says on stderr when it stops.
 */
import { addStats, newInputStats, type InputStats } from '../core/stats';
import type { ForwardResult } from '../nats/forwarder';

export interface ServerSummary {
  /** Records written to the target. */
  written: number;
  /** Frames received. */
  received: number;
  /** Frames refused, in all and by reason code. */
  refused: number;
  refusedBy: Record<string, number>;
  /** Received and refused by input (`tcp`, and `udp`, `http` when enabled). */
  byInput?: Record<string, { received: number; refused: number }>;
  /** Refused frames not kept in the rejects file because it was --max-buffer behind. */
  rejectsDropped?: number;
  /** Set when the server stopped on its own because it could not go on (e.g. its lock was lost). */
  fatal?: string;
  /** With --forward: records acknowledged by JetStream, and those still unacknowledged at the stop. */
  forward?: ForwardResult;
  /** With TLS: handshakes failed, by reason (all inputs). */
  tlsFailedBy?: Record<string, number>;
}

/** "1 record", "2 records". */
const records = (n: number): string => (n === 1 ? '1 record' : `${n} records`);

export function summaryLine(s: ServerSummary, target: string): string {
  const refused =
    s.refused > 0
      ? `; refused ${s.refused} (${Object.entries(s.refusedBy)
          .map(([k, n]) => `${k} ${n}`)
          .join(', ')})`
      : '';
  const tlsFailed = Object.entries(s.tlsFailedBy ?? {});
  const tls =
    tlsFailed.length > 0
      ? `; TLS handshakes failed ${tlsFailed.reduce((n, [, k]) => n + k, 0)} (${tlsFailed.map(([k, n]) => `${k} ${n}`).join(', ')})`
      : '';
  const dropped = s.rejectsDropped ? `; ${s.rejectsDropped} refused frames not kept in the rejects file` : '';
  const others = Object.entries(s.byInput ?? {}).some(([name, n]) => name !== 'tcp' && n.received > 0);
  const byInput = others
    ? `; received ${Object.entries(s.byInput ?? {})
        .map(([name, n]) => `${name} ${n.received}${n.refused > 0 ? ` (${n.refused} refused)` : ''}`)
        .join(', ')}`
    : '';
  const forward = s.forward
    ? `; forwarded ${records(s.forward.acknowledged)} to stream ${s.forward.stream}${s.forward.unacknowledged > 0 ? `, ${s.forward.unacknowledged} NOT acknowledged` : ''}`
    : '';
  // Forwarding only: the "target" is the stream.
  const wrote =
    s.forward && target === `nats stream ${s.forward.stream}` ? forward.slice(2) : `wrote ${records(s.written)} to ${target}${forward}`;
  return `stopped; ${wrote}${refused}${dropped}${byInput}${tls}`;
}

/** The summary's counts: the TCP input's `tcp` plus the other inputs' (by name), with a breakdown by input. */
export function summaryCounts(
  tcp: InputStats,
  others: Record<string, InputStats>,
): Pick<ServerSummary, 'received' | 'refused' | 'refusedBy' | 'byInput' | 'tlsFailedBy'> {
  const all = newInputStats();
  addStats(all, tcp);
  const byInput: NonNullable<ServerSummary['byInput']> = { tcp: { received: tcp.received, refused: tcp.refused } };
  for (const [name, stats] of Object.entries(others)) {
    addStats(all, stats);
    byInput[name] = { received: stats.received, refused: stats.refused };
  }
  const tlsFailedBy = Object.keys(all.tlsFailedBy).length > 0 ? all.tlsFailedBy : undefined;
  return { received: all.received, refused: all.refused, refusedBy: all.refusedBy, byInput, tlsFailedBy };
}
