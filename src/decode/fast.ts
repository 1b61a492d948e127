/**
 * The fast decoder: the opcodes real SocketHandler records are made of (protocols 1–5: dicts, lists, tuples,
 * sets, str, bytes, ints of any size, floats, None, bools, memo), decoded in one tight loop into the same value
 * kinds as the general decoder (format/values.ts). Anything else — class instances, protocol-0 text opcodes, or any
 * malformed input — makes it decline (return DECLINED), and the caller hands the frame to the general decoder,
 * which then gives the same result or the same refusal. test/differential.test.ts keeps the two identical.
 *
 * Nesting is measured while the values are built, not after: each container's height is kept as items go into it,
 * and one that nests deeper than MAX_DEPTH refuses the record (`too-deep`) at once. A chain of 200,000 nested lists
 * (400 KB) cost 60–210 ms to build before the writer refused it; it now stops after MAX_DEPTH appends. The heights
 * are exact because a container is complete before it goes into another in every pickle Python writes; one that
 * changes after it was placed (only a value that contains itself, or a hand-made pickle) makes the decoder decline,
 * and the general decoder decides. The one difference from the general path: a too-deep value that the pickle
 * builds and then drops (never part of the record) refuses the record here; Python's pickler never writes one.
 */
import { MAX_DEPTH, PyFloat, PyInt } from '../format/values';
import { RefusedRecord } from '../core/refusals';

export const DECLINED: unique symbol = Symbol('declined');

const MARK = Symbol('mark');

/** Reused between calls: the decoder is synchronous and runs to completion. */
const stack: unknown[] = [];
const marks: number[] = [];
const memo: unknown[] = [];
let memoCount = 0;
/**
 * Containers that hold a container or were placed in one → height (1: no container in it), negated once placed.
 * A container not in it has height 1 and was never placed.
 */
const heights = new Map<unknown[] | Map<unknown, unknown>, number>();

function tooDeep(): RefusedRecord {
  return new RefusedRecord('too-deep', `values nested deeper than ${MAX_DEPTH} levels`);
}

/**
 * Accounts for `item` going into `holder`: false (decline) if `holder` was already placed in another container,
 * since its holders' heights would no longer be known; throws `too-deep` past MAX_DEPTH.
 */
function place(holder: unknown[] | Map<unknown, unknown>, item: unknown): boolean {
  const held = heights.get(holder) ?? 1;
  if (held < 0) return false;
  if (!(Array.isArray(item) || item instanceof Map)) return true;
  let h = heights.get(item) ?? 1;
  if (h > 0) heights.set(item, -h);
  else h = -h;
  if (h + 1 > held) {
    if (h + 1 > MAX_DEPTH) throw tooDeep();
    heights.set(holder, h + 1);
  }
  return true;
}

/** A new container holding `items` (a tuple, a frozenset, LIST), with its height. */
function holding(items: unknown[]): unknown[] {
  for (const item of items) place(items, item);
  return items;
}

function memoSet(slot: number, value: unknown): void {
  if (memo[slot] === undefined) memoCount++;
  memo[slot] = value;
}

/** Python ints that fit a JS number exactly are numbers; others PyInt. */
function intValue(n: bigint): unknown {
  return n >= -9007199254740991n && n <= 9007199254740991n ? Number(n) : new PyInt(n);
}

function isAscii(b: Buffer, start: number, end: number): boolean {
  for (let i = start; i < end; i++) if (b[i] > 0x7f) return false;
  return true;
}

export function decodeFast(b: Buffer): unknown {
  try {
    return decode(b);
  } finally {
    // Nothing of this frame is kept past the call: a big record's values are garbage at once.
    heights.clear();
    memo.length = 0;
    stack.length = 0;
  }
}

function decode(b: Buffer): unknown {
  stack.length = 0;
  marks.length = 0;
  memo.length = 0;
  memoCount = 0;
  heights.clear();
  const end = b.length;
  let pos = 0;
  const text = (n: number): string | typeof DECLINED => {
    if (n > end - pos) return DECLINED;
    const s = n < 64 && isAscii(b, pos, pos + n) ? b.latin1Slice(pos, pos + n) : b.utf8Slice(pos, pos + n);
    pos += n;
    return s;
  };
  const line = (): string | typeof DECLINED => {
    const nl = b.indexOf(10, pos);
    if (nl < 0) return DECLINED;
    const s = b.latin1Slice(pos, nl);
    pos = nl + 1;
    return s;
  };
  const popMark = (): unknown[] | typeof DECLINED => {
    const m = marks.pop();
    if (m === undefined) return DECLINED;
    const items = stack.slice(m + 1);
    stack.length = m;
    return items;
  };
  while (pos < end) {
    const op = b[pos++];
    switch (op) {
      case 0x80 /* PROTO */:
        if (pos >= end || b[pos] > 5) return DECLINED;
        pos += 1;
        break;
      case 0x95 /* FRAME */:
        pos += 8;
        break;
      case 0x2e /* . STOP */:
        if (stack.length !== 1 || marks.length !== 0) return DECLINED;
        return stack[0];
      case 0x28 /* ( MARK */:
        marks.push(stack.length);
        stack.push(MARK);
        break;
      case 0x7d /* } EMPTY_DICT */:
        stack.push(new Map());
        break;
      case 0x5d /* ] EMPTY_LIST */:
      case 0x29 /* ) EMPTY_TUPLE */:
      case 0x8f /* EMPTY_SET */:
        stack.push([]);
        break;
      case 0x4e /* N NONE */:
        stack.push(null);
        break;
      case 0x88 /* NEWTRUE */:
        stack.push(true);
        break;
      case 0x89 /* NEWFALSE */:
        stack.push(false);
        break;
      case 0x4b /* K BININT1 */:
        if (pos >= end) return DECLINED;
        stack.push(b[pos++]);
        break;
      case 0x4d /* M BININT2 */:
        if (pos + 2 > end) return DECLINED;
        stack.push(b[pos] | (b[pos + 1] << 8));
        pos += 2;
        break;
      case 0x4a /* J BININT */:
        if (pos + 4 > end) return DECLINED;
        stack.push(b.readInt32LE(pos));
        pos += 4;
        break;
      case 0x49 /* I INT */: {
        const t = line();
        if (t === DECLINED) return DECLINED;
        if (t === '01') stack.push(true);
        else if (t === '00') stack.push(false);
        else if (/^-?\d{1,300}$/.test(t)) stack.push(intValue(BigInt(t)));
        else return DECLINED;
        break;
      }
      case 0x4c /* L LONG */: {
        const t = line();
        if (t === DECLINED || !/^-?\d{1,5000}L?$/.test(t)) return DECLINED;
        stack.push(intValue(BigInt(t.charCodeAt(t.length - 1) === 76 ? t.slice(0, -1) : t)));
        break;
      }
      case 0x8a /* LONG1 */: {
        if (pos >= end) return DECLINED;
        const n = b[pos++];
        if (n > end - pos) return DECLINED;
        let v = 0n;
        for (let i = pos + n - 1; i >= pos; i--) v = (v << 8n) | BigInt(b[i]);
        if (n > 0 && b[pos + n - 1] & 0x80) v -= 1n << BigInt(8 * n);
        pos += n;
        stack.push(intValue(v));
        break;
      }
      case 0x47 /* G BINFLOAT */:
        if (pos + 8 > end) return DECLINED;
        stack.push(new PyFloat(b.readDoubleBE(pos)));
        pos += 8;
        break;
      case 0x58 /* X BINUNICODE */: {
        if (pos + 4 > end) return DECLINED;
        const n = b.readUInt32LE(pos);
        pos += 4;
        const s = text(n);
        if (s === DECLINED) return DECLINED;
        stack.push(s);
        break;
      }
      case 0x8c /* SHORT_BINUNICODE */: {
        if (pos >= end) return DECLINED;
        const n = b[pos++];
        const s = text(n);
        if (s === DECLINED) return DECLINED;
        stack.push(s);
        break;
      }
      case 0x43 /* C SHORT_BINBYTES */:
      case 0x42 /* B BINBYTES */: {
        const lenBytes = op === 0x43 ? 1 : 4;
        if (pos + lenBytes > end) return DECLINED;
        const n = op === 0x43 ? b[pos] : b.readUInt32LE(pos);
        pos += lenBytes;
        if (n > end - pos) return DECLINED;
        stack.push(Buffer.from(b.subarray(pos, pos + n)));
        pos += n;
        break;
      }
      case 0x71 /* q BINPUT */:
        if (pos >= end || stack.length === 0 || stack[stack.length - 1] === MARK) return DECLINED;
        memoSet(b[pos++], stack[stack.length - 1]);
        break;
      case 0x72 /* r LONG_BINPUT */: {
        if (pos + 4 > end || stack.length === 0 || stack[stack.length - 1] === MARK) return DECLINED;
        const i = b.readUInt32LE(pos);
        pos += 4;
        if (i > 1_000_000) return DECLINED;
        memoSet(i, stack[stack.length - 1]);
        break;
      }
      case 0x94 /* MEMOIZE */:
        if (stack.length === 0 || stack[stack.length - 1] === MARK) return DECLINED;
        memoSet(memoCount, stack[stack.length - 1]); // pickle's len(memo): the slots set so far
        break;
      case 0x68 /* h BINGET */: {
        if (pos >= end) return DECLINED;
        const v = memo[b[pos++]];
        if (v === undefined) return DECLINED;
        stack.push(v);
        break;
      }
      case 0x6a /* j LONG_BINGET */: {
        if (pos + 4 > end) return DECLINED;
        const v = memo[b.readUInt32LE(pos)];
        pos += 4;
        if (v === undefined) return DECLINED;
        stack.push(v);
        break;
      }
      case 0x73 /* s SETITEM */: {
        if (stack.length < 3) return DECLINED;
        const value = stack.pop();
        const key = stack.pop();
        const dict = stack[stack.length - 1];
        if (!(dict instanceof Map) || key === MARK || value === MARK) return DECLINED;
        if (!place(dict, key) || !place(dict, value)) return DECLINED;
        dict.set(key, value);
        break;
      }
      case 0x75 /* u SETITEMS */: {
        const items = popMark();
        if (items === DECLINED || items.length % 2 !== 0) return DECLINED;
        const dict = stack[stack.length - 1];
        if (!(dict instanceof Map)) return DECLINED;
        for (const item of items) if (!place(dict, item)) return DECLINED;
        for (let i = 0; i < items.length; i += 2) dict.set(items[i], items[i + 1]);
        break;
      }
      case 0x61 /* a APPEND */: {
        if (stack.length < 2) return DECLINED;
        const value = stack.pop();
        const list = stack[stack.length - 1];
        if (!Array.isArray(list) || value === MARK || !place(list, value)) return DECLINED;
        list.push(value);
        break;
      }
      case 0x65 /* e APPENDS */:
      case 0x90 /* ADDITEMS */: {
        const items = popMark();
        if (items === DECLINED) return DECLINED;
        const list = stack[stack.length - 1];
        if (!Array.isArray(list)) return DECLINED;
        for (const item of items) if (!place(list, item)) return DECLINED;
        for (const item of items) list.push(item);
        break;
      }
      case 0x74 /* t TUPLE */:
      case 0x6c /* l LIST */:
      case 0x91 /* FROZENSET */: {
        const items = popMark();
        if (items === DECLINED) return DECLINED;
        stack.push(holding(items));
        break;
      }
      case 0x85 /* TUPLE1 */:
      case 0x86 /* TUPLE2 */:
      case 0x87 /* TUPLE3 */: {
        const n = op - 0x84;
        if (stack.length < n || (marks.length > 0 && stack.length - n <= marks[marks.length - 1])) return DECLINED;
        stack.push(holding(stack.splice(stack.length - n, n)));
        break;
      }
      default:
        return DECLINED;
    }
  }
  return DECLINED;
}

declare global {
  interface Buffer {
    /** Node's own unchecked decoders (what toString() calls after checking its arguments). */
    latin1Slice(start: number, end: number): string;
    utf8Slice(start: number, end: number): string;
  }
}
