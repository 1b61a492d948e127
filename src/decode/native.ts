/**
 * The transcoder in C++ (src/native/transcode.cc, built by node-gyp when the package is installed): the same
 * machine as transcode.ts, several times faster, writing each line straight into the LineBuffer's slab. When the
 * addon is not built (no compiler at install) or LOGSERVER_NATIVE=0 is set, `makeNativeTranscoder` returns null
 * and the caller uses transcode.ts; both decline the same kind of frames and both give the general path's line.
 */
import type { LineBuffer } from '../format/line-buffer';
import { secondPrefix } from '../format/time';

interface Binding {
  /** The new end of the line in `slab`, or DECLINE / NEED_ROOM / NEED_TIME (see transcode.cc). */
  transcode(payload: Buffer, slab: Buffer, pos: number, state: Buffer, maxScratch: number): number;
}

const NEED_ROOM = -2;
const NEED_TIME = -3;

/** Why the C++ transcoder is not in use, or null when it is. */
export let nativeMissing: string | null = null;

function load(): Binding | null {
  if (process.env.LOGSERVER_NATIVE === '0') {
    nativeMissing = 'LOGSERVER_NATIVE=0 is set';
    return null;
  }
  try {
    // From dist/pickle or src/pickle alike.
    return require('../../build/Release/transcode.node') as Binding;
  } catch (err) {
    nativeMissing = `it is not built (${(err as Error).message.split('\n')[0]})`;
    return null;
  }
}

const binding = load();

export type Transcoder = (payload: Buffer, out: LineBuffer) => boolean;

/**
 * A transcoder that writes the line for `payload` to `out` and returns true, or returns false (declines) and
 * leaves `out` as it was. Null when the addon is not available.
 */
export function makeNativeTranscoder(utc: boolean, maxScratch: number): Transcoder | null {
  if (binding === null) return null;
  const transcode = binding.transcode;
  // [0, 8) the second created_human's prefix is for, [8, 16) a request, [16] the prefix length, [17, 64) it.
  const state = Buffer.alloc(64);
  state.writeDoubleLE(NaN, 0);
  return (payload, out) => {
    let need = 0;
    // At most: the second's prefix is missing, then the slab is too small, then the line is written.
    for (let attempt = 0; attempt < 3; attempt++) {
      const end = transcode(payload, out.reserve(need), out.end, state, maxScratch);
      if (end >= 0) {
        out.advance(end);
        return true;
      }
      if (end === NEED_TIME) {
        const seconds = state.readDoubleLE(8);
        state[16] = state.write(secondPrefix(seconds, utc), 17, 'latin1');
        state.writeDoubleLE(seconds, 0);
      } else if (end === NEED_ROOM) need = state.readDoubleLE(8);
      else return false;
    }
    return false;
  };
}
