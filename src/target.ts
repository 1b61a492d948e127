/**
 * The file side, shared by both modes: open the target, lock it, and the summary of a run.
 */
import { resolve } from 'node:path';
import { FileSink } from './sink/file';
import { lockTarget, type ReleaseLock } from './sink/lock';
import type { Reporter } from './report';
import type { InputStats } from './input/tcp';

export interface ServerSummary {
  /** Records written to the target. */
  written: number;
  /** Frames received. */
  received: number;
  /** Frames refused, in all and by reason code. */
  refused: number;
  refusedBy: Record<string, number>;
  /** Set when the server stopped on its own because it could not go on (e.g. its lock was lost). */
  fatal?: string;
}

export interface OpenTarget {
  sink: FileSink;
  release: ReleaseLock;
}

/** Opens (creating) the target, then locks it. `onLockLost` runs if the lock is compromised later. */
export async function openTarget(target: string, reporter: Reporter, onLockLost: (err: Error) => void): Promise<OpenTarget> {
  const sink = new FileSink(resolve(target), { reporter });
  await sink.open();
  try {
    const release = await lockTarget(sink.path, onLockLost);
    return { sink, release };
  } catch (err) {
    await sink.close();
    throw err;
  }
}

export function addStats(into: InputStats, more: InputStats): void {
  into.received += more.received;
  into.refused += more.refused;
  into.connectionsTotal += more.connectionsTotal;
  for (const [code, n] of Object.entries(more.refusedBy)) into.refusedBy[code] = (into.refusedBy[code] ?? 0) + n;
}

export function summaryLine(s: ServerSummary, target: string): string {
  const refused = s.refused > 0 ? `; refused ${s.refused} (${Object.entries(s.refusedBy).map(([k, n]) => `${k} ${n}`).join(', ')})` : '';
  return `stopped; wrote ${s.written} records to ${target}${refused}`;
}
