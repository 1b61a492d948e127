/**
 * One writer per file: the process that writes the target holds a proper-lockfile lock on it (a directory
 * `<target>.lock` whose mtime it refreshes every second) for its whole life.
 *
 * A second server finds the lock fresh and gives up after LOCK_WAIT_MS; after a crash (kill -9) the lock stops
 * being refreshed, turns stale after STALE_MS, and the next server takes it over by itself within the same wait.
 */
import * as lockfile from 'proper-lockfile';
import { ServerError } from '../core/errors';

const STALE_MS = 5000;
const UPDATE_MS = 1000;
/** Long enough for a crashed holder's lock to go stale, short enough to fail "within seconds". */
const RETRIES = 7;

export type ReleaseLock = () => Promise<void>;

/**
 * For tests that lose a lock at a chosen moment (test/lock-loss.test.ts): when set, called once each lock is
 * taken with the function that reports it lost, as proper-lockfile would. Null otherwise.
 */
export const lockTesting: { onTaken: ((lose: (err: Error) => void) => void) | null } = { onTaken: null };

/**
 * Locks `path` (which must exist). `onCompromised` is called, instead of the library's default of throwing from
 * a timer, when the lock is lost (removed, or taken over while this process was blocked).
 */
export async function lockTarget(path: string, onCompromised: (err: Error) => void): Promise<ReleaseLock> {
  try {
    const release = await lockfile.lock(path, {
      stale: STALE_MS,
      update: UPDATE_MS,
      realpath: true, // the target exists by now; a symlinked target shares its lock
      retries: { retries: RETRIES, factor: 1, minTimeout: 1000, maxTimeout: 1000 },
      onCompromised,
    });
    lockTesting.onTaken?.(onCompromised);
    return async () => {
      try {
        await release();
      } catch {
        // Already released or compromised: nothing left to undo.
      }
    };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ELOCKED') {
      throw new ServerError(
        'LOGSERVER_ERR_LOCKED',
        `${path} is in use by another log-server (its lock ${path}.lock is held and kept fresh)`,
      );
    }
    throw new ServerError('LOGSERVER_ERR_LOCK', `cannot lock ${path}: ${(err as Error).message}`, { cause: err });
  }
}
