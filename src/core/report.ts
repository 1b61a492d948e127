/**
 * The server's own lines (start, stop, refusals, faults): one place, one format, bounded noise.
 * Warnings of one kind print at most once a second; what was held back is counted in the next line.
 */

export interface Reporter {
  /** A line that always prints (start, stop). */
  info(line: string): void;
  /** A line of a kind that may repeat (a refused frame, a write error): rate-limited per kind. */
  warn(kind: string, line: string): void;
}

interface KindState {
  lastAt: number;
  held: number;
  timer: NodeJS.Timeout | null;
}

/** Writes `<prefix>: line` to a stream (stderr by default). */
export function streamReporter(
  write: (text: string) => void = (text) => process.stderr.write(text),
  prefix = 'log-server',
  intervalMs = 1000,
): Reporter {
  const kinds = new Map<string, KindState>();
  const emit = (line: string) => write(`${prefix}: ${line}\n`);
  return {
    info: emit,
    warn(kind, line) {
      const now = Date.now();
      let state = kinds.get(kind);
      if (state === undefined) {
        state = { lastAt: -Infinity, held: 0, timer: null };
        kinds.set(kind, state);
      }
      if (now - state.lastAt >= intervalMs && state.timer === null) {
        state.lastAt = now;
        emit(line);
        return;
      }
      state.held++;
      if (state.timer === null) {
        const s = state;
        s.timer = setTimeout(
          () => {
            s.timer = null;
            if (s.held > 0) {
              emit(`... and ${s.held} more ${kind} in the last second`);
              s.held = 0;
              s.lastAt = Date.now();
            }
          },
          intervalMs - (now - state.lastAt),
        );
        s.timer.unref();
      }
    },
  };
}

/** A reporter that prints nothing (for embedding and tests that check counts instead). */
export const silentReporter: Reporter = { info() {}, warn() {} };
