/**
 * Memory back after a burst of big frames. Decoding a big record (a long list, a deep or many-keyed one, or a
 * refused bomb) grows V8's heap by hundreds of MiB for a moment; V8 keeps what it grew to long after the garbage
 * is gone, and glibc keeps the pages that freed buffers leave (measured: 248 MiB resident 10 s after a hostile
 * storm, against 66 MiB idle). So once a frame of at least BIG_FRAME bytes was decoded and none came for
 * QUIET_MS, one full collection is asked for and the C heap is trimmed (src/native/memory.cc), which gives the
 * freed pages back. It costs one pause (tens of milliseconds for a heap of a few hundred MiB), only after such
 * frames, never during a steady flow of ordinary records.
 *
 * The collector is reached through V8's --expose-gc, set at run time on this process only (not inherited); the
 * trim through the addon built at install. Where either is missing, that part is not done.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/** Frames this big (bytes) make a collection due once it is quiet. Ordinary records are under 10 KiB. */
export const BIG_FRAME = 256 * 1024;
/** Quiet time after the last big frame before the collection. */
const QUIET_MS = 2000;

let collect: (() => void) | null | undefined;
let trim: (() => boolean) | null | undefined;
let lastBig = 0;
let timer: NodeJS.Timeout | null = null;

function collector(): (() => void) | null {
  if (collect !== undefined) return collect;
  try {
    setFlagsFromString('--expose-gc');
    collect = runInNewContext('gc') as () => void;
  } catch {
    collect = null;
  }
  return collect;
}

function trimmer(): (() => boolean) | null {
  if (trim !== undefined) return trim;
  try {
    trim = (require('../../build/Release/memory.node') as { trim: () => boolean }).trim;
  } catch {
    trim = null;
  }
  return trim;
}

/** Notes that a frame of `bytes` was decoded; a big one makes a collection due once it is quiet. */
export function noteFrame(bytes: number): void {
  if (bytes < BIG_FRAME) return;
  lastBig = Date.now();
  if (timer !== null) return;
  const check = () => {
    const quiet = Date.now() - lastBig;
    if (quiet < QUIET_MS) {
      timer = setTimeout(check, QUIET_MS - quiet);
      timer.unref();
      return;
    }
    timer = null;
    collector()?.();
    trimmer()?.();
  };
  timer = setTimeout(check, QUIET_MS);
  timer.unref();
}
