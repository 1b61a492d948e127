/**
 * Memory back after a burst of big frames. Decoding a big record (a long list, a deep or many-keyed one, or a
 * refused bomb) grows V8's heap by tens to hundreds of MiB for a moment; V8 keeps what it grew to long after the
 * garbage is gone, and glibc keeps the pages that freed buffers leave. So once a frame of at least BIG_FRAME bytes
 * was decoded and none came for QUIET_MS, V8 is told memory is low (src/native/memory.cc: it collects everything
 * and releases the pages it keeps for reuse) and the C heap is trimmed. Measured on 30 big frames in one process:
 * 92 MiB idle, 228 MiB after them; a full collection alone left 149-157 MiB (59 MiB of heap committed, 16 in
 * use); the low-memory notice and the trim leave 108 MiB (17 committed). It costs one pause (about 45 ms here),
 * only after such frames, never during a steady flow of ordinary records.
 *
 * Both come from the addon built at install; without it a full collection is asked for through V8's --expose-gc,
 * set at run time on this process only (not inherited). Where neither is there, nothing is done.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/** Frames this big (bytes) make a collection due once it is quiet. Ordinary records are under 10 KiB. */
export const BIG_FRAME = 256 * 1024;
/** Quiet time after the last big frame before the collection. */
const QUIET_MS = 2000;

interface MemoryAddon {
  /** V8's low-memory notice: collect everything, release the pages kept for reuse. */
  reduce: () => boolean;
  /** malloc_trim(0). */
  trim: () => boolean;
}

let collect: (() => void) | null | undefined;
let addon: MemoryAddon | null | undefined;
let lastBig = 0;
let timer: NodeJS.Timeout | null = null;

function memoryAddon(): MemoryAddon | null {
  if (addon !== undefined) return addon;
  try {
    addon = require('../../build/Release/memory.node') as MemoryAddon;
  } catch {
    addon = null;
  }
  return addon;
}

/** A full collection through --expose-gc, where the addon is not built. */
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

/** Gives back what the burst took: V8's heap, then the C heap. */
function giveBack(): void {
  const native = memoryAddon();
  if (native !== null) {
    native.reduce();
    native.trim();
  } else collector()?.();
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
    giveBack();
  };
  timer = setTimeout(check, QUIET_MS);
  timer.unref();
}
