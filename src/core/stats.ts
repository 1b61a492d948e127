/**
 * The counters every input and the server keep: plain integers bumped on the hot path, read by /metrics at
 * scrape time and by the stop summary. In multithreaded mode the workers send their InputStats to the primary,
 * which keeps one ServerStats for the whole server.
 */
import type { ConnectionRefusalCode } from './refusals';

/** One input's counters (TCP, UDP, HTTP). */
export interface InputStats {
  received: number;
  refused: number;
  refusedBy: Record<string, number>;
  connectionsTotal: number;
  /** Bytes read from clients. */
  bytesIn: number;
  /** With TLS: handshakes completed (the client's certificate verified, where one is asked for). */
  tlsHandshakes: number;
  /** With TLS: handshakes failed, by reason (TLS_HANDSHAKE_REFUSAL_CODES). */
  tlsFailedBy: Record<string, number>;
}

export const newInputStats = (): InputStats => ({
  received: 0,
  refused: 0,
  refusedBy: {},
  connectionsTotal: 0,
  bytesIn: 0,
  tlsHandshakes: 0,
  tlsFailedBy: {},
});

export function addStats(into: InputStats, more: InputStats): void {
  into.received += more.received;
  into.refused += more.refused;
  into.connectionsTotal += more.connectionsTotal;
  into.bytesIn += more.bytesIn ?? 0;
  into.tlsHandshakes += more.tlsHandshakes ?? 0;
  for (const [code, n] of Object.entries(more.refusedBy)) into.refusedBy[code] = (into.refusedBy[code] ?? 0) + n;
  for (const [code, n] of Object.entries(more.tlsFailedBy ?? {})) into.tlsFailedBy[code] = (into.tlsFailedBy[code] ?? 0) + n;
}

/** The counters of one server, in the process that writes the file. */
export interface ServerStats {
  /** Inputs of this process, by name ("tcp"). */
  inputs: Map<string, InputStats>;
  /** Inputs' counters last reported by each live worker (multithreaded mode), by worker id and input name. */
  remote: Map<number, Record<string, InputStats>>;
  /** The last counters of workers that are gone, by input name: totals never go down when a worker is replaced. */
  gone: Record<string, InputStats>;
  /** Connections closed at once, by reason. */
  connectionsRefusedBy: Partial<Record<ConnectionRefusalCode, number>>;
  /** Workers that died and were replaced. */
  workerRestarts: number;
  /** True while the server accepts connections. */
  listening: boolean;
}

export const newServerStats = (): ServerStats => ({
  inputs: new Map(),
  remote: new Map(),
  gone: {},
  connectionsRefusedBy: {},
  workerRestarts: 0,
  listening: false,
});

export function countRefusedConnection(stats: ServerStats, reason: ConnectionRefusalCode): void {
  stats.connectionsRefusedBy[reason] = (stats.connectionsRefusedBy[reason] ?? 0) + 1;
}

/** A worker is gone: its last counters move to `gone`. */
export function workerGone(stats: ServerStats, id: number): void {
  const last = stats.remote.get(id);
  if (last === undefined) return;
  stats.remote.delete(id);
  addInputs(stats.gone, last);
}

function addInputs(into: Record<string, InputStats>, more: Record<string, InputStats>): void {
  for (const [name, s] of Object.entries(more)) addStats((into[name] ??= newInputStats()), s);
}

/** Every input's counters summed over this process, the live workers and the workers gone, by input name. */
export function inputTotals(stats: ServerStats): Record<string, InputStats> {
  const totals: Record<string, InputStats> = {};
  addInputs(totals, stats.gone);
  for (const r of stats.remote.values()) addInputs(totals, r);
  addInputs(totals, Object.fromEntries(stats.inputs));
  return totals;
}
