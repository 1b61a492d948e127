/**
 * The transcoder: pickle bytes straight to JSON line bytes, for records of plain data — a dict of str keys
 * whose values are str, int of any size, float, None, bool, and lists, tuples, sets and dicts of those — in
 * protocols 1–5: what SocketHandler records are made of.
 *
 * It runs the pickle machine, but its values are JSON fragments, not objects: a str whose UTF-8 bytes need no
 * escaping stays a range of the frame; every other value is JSON text in a scratch buffer. A container is
 * turned into text once, when it is put into its parent (pickle fills a container before it uses it). At STOP
 * the line is assembled in output order into the caller's LineBuffer.
 *
 * Anything outside that shape (a class, a non-str key in a nested dict, a repeated key, a container changed
 * after use, deep nesting, a malformed byte) makes it decline and leave the output untouched; the caller then
 * uses the general path, which gives the same line or the same refusal (test/differential.test.ts).
 */
import { isUtf8 } from 'node:buffer';
import type { LineBuffer } from '../format/line-buffer';
import type { HumanTime } from '../format/time';
import { floatJson } from '../format/values';
import { MAX_CREATED, MIN_CREATED } from '../format/entry';

// ---- Values of the current record: parallel arrays indexed by value id, reused between calls. ----
/** A str whose bytes go between quotes as they are: [a, b) of the frame. */
const FRAME_STR = 0;
/** JSON text: [a, b) of the scratch buffer. */
const TEXT = 1;
/** A list/set (items in bItems) or dict (pairs in bItems) still being filled. */
const LIST = 2;
const DICT = 3;

let vKind = new Uint8Array(1024);
let vA = new Int32Array(1024);
let vB = new Int32Array(1024);
let vNum = new Float64Array(1024);
let vStr = new Uint8Array(1024);
let vDepth = new Uint8Array(1024);
let nv = 0;
/** Items of the containers, by value id: arrays kept from record to record (no garbage), the count in bLen. */
const bItems: number[][] = [];
let bLen = new Int32Array(1024);

/** The pickle stack (value ids, MARK for a mark), its height, and the stack heights at the open marks. */
let stack = new Int32Array(1024);
let sn = 0;
let marks = new Int32Array(256);
let mn = 0;
/** The memo: slot -> value id, valid where memoStamp[slot] is this record's stamp. */
let memoVal = new Int32Array(256);
let memoStamp = new Int32Array(256);
let memoNow = 0;
/** Memo slots set (MEMOIZE's index). */
let memoSet = 0;
const MARK = -1;
const MAX_MEMO_SLOT = 65535;

function push(id: number): void {
  if (sn === stack.length) {
    const next = new Int32Array(sn * 2);
    next.set(stack);
    stack = next;
  }
  stack[sn++] = id;
}

function pushMark(): void {
  if (mn === marks.length) {
    const next = new Int32Array(mn * 2);
    next.set(marks);
    marks = next;
  }
  marks[mn++] = sn;
  push(MARK);
}

/** A new empty container's item list. */
function openItems(id: number): void {
  if (bItems[id] === undefined) bItems[id] = [];
  bLen[id] = 0;
}

/** Ids whose item list grew long in this record: given back at the next, so that records filling long lists
 * under ever new ids do not keep one each. */
const longLists: number[] = [];
const LONG_LIST = 128;

function addItem(id: number, item: number): void {
  if (bLen[id] === LONG_LIST) longLists.push(id);
  bItems[id][bLen[id]++] = item;
}

function memoGet(slot: number): number {
  return slot < memoStamp.length && memoStamp[slot] === memoNow ? memoVal[slot] : -1;
}

function memoPut(slot: number, id: number): void {
  if (slot >= memoStamp.length) {
    const size = Math.min(Math.max(memoStamp.length * 2, slot + 1), MAX_MEMO_SLOT + 1);
    const val = new Int32Array(size);
    const st = new Int32Array(size);
    val.set(memoVal);
    st.set(memoStamp);
    memoVal = val;
    memoStamp = st;
  }
  if (memoStamp[slot] !== memoNow) memoSet++;
  memoStamp[slot] = memoNow;
  memoVal[slot] = id;
}

/** Scratch space for JSON text. */
let scratch = Buffer.allocUnsafe(64 * 1024);
let sp = 0;

/** Bound on the scratch text of one record (a memo bomb declines here, and the general path refuses it). */
let scratchLimit = 8 * 1024 * 1024;

class ScratchFull extends Error {}

function room(n: number): void {
  if (sp + n <= scratch.length) return;
  if (sp + n > scratchLimit) throw new ScratchFull();
  const next = Buffer.allocUnsafe(Math.max(scratch.length * 2, sp + n));
  scratch.copy(next, 0, 0, sp);
  scratch = next;
}

function growValues(): void {
  const n = vKind.length * 2;
  const g = <T extends Uint8Array | Int32Array | Float64Array>(a: T, make: (n: number) => T): T => {
    const b = make(n);
    b.set(a as never);
    return b;
  };
  vKind = g(vKind, (n) => new Uint8Array(n));
  vA = g(vA, (n) => new Int32Array(n));
  vB = g(vB, (n) => new Int32Array(n));
  vNum = g(vNum, (n) => new Float64Array(n));
  vStr = g(vStr, (n) => new Uint8Array(n));
  vDepth = g(vDepth, (n) => new Uint8Array(n));
  bLen = g(bLen, (n) => new Int32Array(n));
}

function newValue(kind: number, a: number, b: number, num: number, str: number, depth: number): number {
  if (nv === vKind.length) growValues();
  vKind[nv] = kind;
  vA[nv] = a;
  vB[nv] = b;
  vNum[nv] = num;
  vStr[nv] = str;
  vDepth[nv] = depth;
  return nv++;
}

/** A scalar whose JSON text is `s` (ASCII). */
function textValue(s: string, num: number): number {
  const start = sp;
  room(s.length);
  for (let i = 0; i < s.length; i++) scratch[sp++] = s.charCodeAt(i);
  return newValue(TEXT, start, sp, num, 0, 0);
}

/** An int from 0 to 65535, its digits written straight into the scratch buffer. */
function uintValue(v: number): number {
  const start = sp;
  room(5);
  if (v >= 10000) scratch[sp++] = 0x30 + ((v / 10000) | 0);
  if (v >= 1000) scratch[sp++] = 0x30 + (((v / 1000) | 0) % 10);
  if (v >= 100) scratch[sp++] = 0x30 + (((v / 100) | 0) % 10);
  if (v >= 10) scratch[sp++] = 0x30 + (((v / 10) | 0) % 10);
  scratch[sp++] = 0x30 + (v % 10);
  return newValue(TEXT, start, sp, v, 0, 0);
}

/** True when bytes [s, e) can go between JSON quotes as they are: valid UTF-8, no `"`, `\` or control char. */
function plainString(b: Buffer, s: number, e: number): boolean {
  let ascii = true;
  for (let i = s; i < e; i++) {
    const c = b[i];
    if (c < 0x20 || c === 0x22 || c === 0x5c) return false;
    if (c > 0x7f) ascii = false;
  }
  return ascii || isUtf8(b.subarray(s, e));
}

function strValue(b: Buffer, s: number, e: number): number {
  if (plainString(b, s, e)) return newValue(FRAME_STR, s, e, NaN, 1, 0);
  const json = JSON.stringify(b.utf8Slice(s, e));
  const start = sp;
  room(json.length * 3);
  sp += scratch.utf8Write(json, sp);
  return newValue(TEXT, start, sp, NaN, 1, 0);
}

/** Decimal text of a little-endian two's-complement int (LONG1). */
function long1Text(b: Buffer, s: number, n: number): string {
  if (n === 0) return '0';
  if (n <= 6) {
    let v = 0;
    for (let i = n - 1; i >= 0; i--) v = v * 256 + b[s + i];
    if (b[s + n - 1] & 0x80) v -= 2 ** (8 * n);
    return String(v);
  }
  let v = 0n;
  for (let i = n - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[s + i]);
  if (b[s + n - 1] & 0x80) v -= 1n << BigInt(8 * n);
  return v.toString();
}

const DIGITS = /^-?(0|[1-9]\d*)$/;
/** Deeper than this (the record dict being level 1 around it) the general path decides. */
const MAX_CONTAINER_DEPTH = 99;

/** Appends the JSON text of value `id` to the scratch buffer. */
function copyToScratch(b: Buffer, id: number): void {
  const s = vA[id];
  const e = vB[id];
  if (vKind[id] === FRAME_STR) {
    room(e - s + 2);
    scratch[sp++] = 0x22;
    if (e - s < 48) for (let i = s; i < e; i++) scratch[sp++] = b[i];
    else sp += b.copy(scratch, sp, s, e);
    scratch[sp++] = 0x22;
  } else {
    room(e - s);
    if (e - s < 48) for (let i = s; i < e; i++) scratch[sp++] = scratch[i];
    else sp += scratch.copy(scratch, sp, s, e);
  }
}

function sameText(b: Buffer, x: number, y: number): boolean {
  const bx = vKind[x] === FRAME_STR ? b : scratch;
  const by = vKind[y] === FRAME_STR ? b : scratch;
  const n = vB[x] - vA[x];
  if (vKind[x] !== vKind[y] || vB[y] - vA[y] !== n) return false;
  for (let i = 0; i < n; i++) if (bx[vA[x] + i] !== by[vA[y] + i]) return false;
  return true;
}

/**
 * Makes value `id` final JSON text: a container is written out (its items are final already) and can no
 * longer change. Returns false to decline.
 */
function finish(b: Buffer, id: number, top: number): boolean {
  const kind = vKind[id];
  if (kind === FRAME_STR || kind === TEXT) return true;
  if (id === top) return false; // the record inside itself
  const items = bItems[id];
  const count = bLen[id];
  const start = sp;
  let depth = 0;
  room(2);
  scratch[sp++] = kind === LIST ? 0x5b : 0x7b;
  if (kind === LIST) {
    for (let i = 0; i < count; i++) {
      if (i > 0) scratch[sp++] = 0x2c;
      copyToScratch(b, items[i]);
      room(2);
      if (vDepth[items[i]] > depth) depth = vDepth[items[i]];
    }
  } else {
    if (!newKeySet(count / 2)) return false;
    for (let i = 0; i < count; i += 2) {
      const k = items[i];
      if (vStr[k] !== 1) return false; // non-str keys: the general path converts them
      // A repeated key (equal JSON text, whichever way each was read): the general path keeps the last value.
      if (!addKey(b, k)) return false;
      if (i > 0) scratch[sp++] = 0x2c;
      copyToScratch(b, k);
      room(2);
      scratch[sp++] = 0x3a;
      copyToScratch(b, items[i + 1]);
      room(2);
      if (vDepth[items[i + 1]] > depth) depth = vDepth[items[i + 1]];
    }
  }
  scratch[sp++] = kind === LIST ? 0x5d : 0x7d;
  if (depth + 1 > MAX_CONTAINER_DEPTH) return false;
  vKind[id] = TEXT;
  vA[id] = start;
  vB[id] = sp;
  vDepth[id] = depth + 1;
  return true;
}

/** A tuple/frozenset of the items stack[from, sn), which it pops: final at once. */
function arrayValue(b: Buffer, from: number, top: number): number {
  for (let i = from; i < sn; i++) if (stack[i] === MARK || !finish(b, stack[i], top)) return -1;
  const id = newValue(LIST, 0, 0, NaN, 0, 0);
  openItems(id);
  for (let i = from; i < sn; i++) addItem(id, stack[i]);
  sn = from;
  return finish(b, id, top) ? id : -1;
}

/**
 * Writes the line for the record in `b` to `out` and returns true, or returns false (declines) without
 * writing anything. `maxScratch` bounds the text it may build (a memo bomb declines, and is then refused).
 */
export function transcodeRecord(b: Buffer, out: LineBuffer, humanTime: HumanTime, maxScratch = 8 * 1024 * 1024): boolean {
  scratchLimit = maxScratch;
  try {
    return run(b, out, humanTime);
  } catch (err) {
    if (err instanceof ScratchFull) return false;
    throw err;
  }
}

function run(b: Buffer, out: LineBuffer, humanTime: HumanTime): boolean {
  for (const id of longLists) bItems[id] = [];
  longLists.length = 0;
  nv = 0;
  sp = 0;
  sn = 0;
  mn = 0;
  memoNow = (memoNow + 1) | 0;
  if (memoNow === 0) {
    memoStamp.fill(0);
    memoNow = 1;
  }
  memoSet = 0;
  const n = b.length;
  let p = 0;
  let top = -1; // the first dict: the record
  while (p < n) {
    const op = b[p++];
    switch (op) {
      case 0x80 /* PROTO */:
        if (p >= n || b[p] > 5) return false;
        p++;
        break;
      case 0x95 /* FRAME */:
        p += 8;
        break;
      case 0x28 /* ( MARK */:
        pushMark();
        break;
      case 0x7d /* } EMPTY_DICT */: {
        const id = newValue(DICT, 0, 0, NaN, 0, 0);
        openItems(id);
        if (top < 0) top = id;
        push(id);
        break;
      }
      case 0x5d /* ] EMPTY_LIST */:
      case 0x8f /* EMPTY_SET */: {
        const id = newValue(LIST, 0, 0, NaN, 0, 0);
        openItems(id);
        push(id);
        break;
      }
      case 0x29 /* ) EMPTY_TUPLE */:
        push(textValue('[]', NaN));
        break;
      case 0x4e /* N */:
        push(textValue('null', NaN));
        break;
      case 0x88 /* NEWTRUE */:
        push(textValue('true', NaN));
        break;
      case 0x89 /* NEWFALSE */:
        push(textValue('false', NaN));
        break;
      case 0x4b /* K BININT1 */:
        if (p >= n) return false;
        push(uintValue(b[p]));
        p++;
        break;
      case 0x4d /* M BININT2 */: {
        if (p + 2 > n) return false;
        push(uintValue(b[p] | (b[p + 1] << 8)));
        p += 2;
        break;
      }
      case 0x4a /* J BININT */: {
        if (p + 4 > n) return false;
        const v = b.readInt32LE(p);
        push(textValue(String(v), v));
        p += 4;
        break;
      }
      case 0x47 /* G BINFLOAT */: {
        if (p + 8 > n) return false;
        const v = b.readDoubleBE(p);
        const json = floatJson(v);
        push(json.charCodeAt(0) === 0x22 ? textValue(json, NaN) : textValue(json, v));
        p += 8;
        break;
      }
      case 0x49 /* I */:
      case 0x4c /* L */: {
        const nl = b.indexOf(10, p);
        if (nl < 0 || nl - p > 400) return false;
        let t = b.latin1Slice(p, nl);
        p = nl + 1;
        if (op === 0x49 && (t === '01' || t === '00')) {
          push(textValue(t === '01' ? 'true' : 'false', NaN));
          break;
        }
        if (op === 0x4c && t.charCodeAt(t.length - 1) === 76) t = t.slice(0, -1);
        if (!DIGITS.test(t) || t === '-0') return false;
        push(textValue(t, Number(t)));
        break;
      }
      case 0x8a /* LONG1 */: {
        if (p >= n) return false;
        const len = b[p++];
        if (len > n - p) return false;
        const t = long1Text(b, p, len);
        push(textValue(t, Number(t)));
        p += len;
        break;
      }
      case 0x58 /* X BINUNICODE */:
      case 0x8c /* SHORT_BINUNICODE */: {
        let len: number;
        if (op === 0x58) {
          if (p + 4 > n) return false;
          len = (b[p] | (b[p + 1] << 8) | (b[p + 2] << 16)) + b[p + 3] * 0x1000000;
          p += 4;
        } else {
          if (p >= n) return false;
          len = b[p++];
        }
        if (len > n - p) return false;
        push(strValue(b, p, p + len));
        p += len;
        break;
      }
      case 0x71 /* q BINPUT */:
      case 0x72 /* r LONG_BINPUT */:
      case 0x94 /* MEMOIZE */: {
        let slot: number;
        if (op === 0x71) {
          if (p >= n) return false;
          slot = b[p++];
        } else if (op === 0x72) {
          if (p + 4 > n) return false;
          slot = b.readUInt32LE(p);
          p += 4;
        } else slot = memoSet; // MEMOIZE stores at the number of slots set so far (pickle's len(memo))
        if (sn === 0 || stack[sn - 1] === MARK || slot > MAX_MEMO_SLOT) return false;
        memoPut(slot, stack[sn - 1]);
        break;
      }
      case 0x68 /* h BINGET */:
      case 0x6a /* j LONG_BINGET */: {
        let slot: number;
        if (op === 0x68) {
          if (p >= n) return false;
          slot = b[p++];
        } else {
          if (p + 4 > n) return false;
          slot = b.readUInt32LE(p);
          p += 4;
        }
        const id = memoGet(slot);
        if (id < 0) return false;
        push(id);
        break;
      }
      case 0x61 /* a APPEND */: {
        if (sn < 2) return false;
        const item = stack[--sn];
        const list = stack[sn - 1];
        // Re-checked after finish(): an item that is the list itself (a cycle) finishes it.
        if (item === MARK || list === MARK || vKind[list] !== LIST || !finish(b, item, top) || vKind[list] !== LIST) return false;
        addItem(list, item);
        break;
      }
      case 0x65 /* e APPENDS */:
      case 0x90 /* ADDITEMS */: {
        if (mn === 0) return false;
        const m = marks[--mn];
        if (m === 0) return false;
        const list = stack[m - 1];
        if (list === MARK || vKind[list] !== LIST) return false;
        // All items first: one of them may be the container itself (a cycle), which finishes it.
        for (let i = m + 1; i < sn; i++) if (!finish(b, stack[i], top)) return false;
        if (vKind[list] !== LIST) return false;
        for (let i = m + 1; i < sn; i++) addItem(list, stack[i]);
        sn = m;
        break;
      }
      case 0x73 /* s SETITEM */: {
        if (sn < 3) return false;
        const value = stack[--sn];
        const key = stack[--sn];
        const dict = stack[sn - 1];
        if (value === MARK || key === MARK || dict === MARK || vKind[dict] !== DICT) return false;
        if (!finish(b, key, top) || !finish(b, value, top) || vKind[dict] !== DICT) return false;
        addItem(dict, key);
        addItem(dict, value);
        break;
      }
      case 0x75 /* u SETITEMS */: {
        if (mn === 0) return false;
        const m = marks[--mn];
        if (m === 0 || (sn - m - 1) % 2 !== 0) return false;
        const dict = stack[m - 1];
        if (dict === MARK || vKind[dict] !== DICT) return false;
        // All items first: one of them may be the container itself (a cycle), which finishes it.
        for (let i = m + 1; i < sn; i++) if (!finish(b, stack[i], top)) return false;
        if (vKind[dict] !== DICT) return false;
        for (let i = m + 1; i < sn; i++) addItem(dict, stack[i]);
        sn = m;
        break;
      }
      case 0x74 /* t TUPLE */:
      case 0x91 /* FROZENSET */: {
        if (mn === 0) return false;
        const m = marks[--mn];
        const id = arrayValue(b, m + 1, top);
        if (id < 0) return false;
        sn = m;
        push(id);
        break;
      }
      case 0x85 /* TUPLE1 */:
      case 0x86 /* TUPLE2 */:
      case 0x87 /* TUPLE3 */: {
        const k = op - 0x84;
        if (sn < k) return false;
        const id = arrayValue(b, sn - k, top);
        if (id < 0) return false;
        push(id);
        break;
      }
      case 0x2e /* . STOP */:
        if (sn !== 1 || mn !== 0 || stack[0] !== top) return false;
        return assemble(b, out, humanTime, bItems[top], bLen[top]);
      default:
        return false;
    }
  }
  return false;
}

// ---- The line: own keys first, then the record's keys in order. ----

const OWN_LEVELNAME = 1;
const OWN_CREATED = 2;
const OWN_SKIP = 3; // `message`, `created_human`: written by the formatter itself
const OWN_MSG = 4;

const WORD_MSG = Buffer.from('msg', 'latin1');
const WORD_CREATED = Buffer.from('created', 'latin1');
const WORD_MESSAGE = Buffer.from('message', 'latin1');
const WORD_LEVELNAME = Buffer.from('levelname', 'latin1');
const WORD_CREATED_HUMAN = Buffer.from('created_human', 'latin1');

/** True when bytes [s, s + word.length) of `b` are `word`. */
function isWord(b: Buffer, s: number, word: Buffer): boolean {
  for (let i = 0; i < word.length; i++) if (b[s + i] !== word[i]) return false;
  return true;
}

/** Which of the keys the formatter treats specially a str key is, by its frame bytes. */
function ownKey(b: Buffer, s: number, e: number): number {
  switch (e - s) {
    case 3:
      return isWord(b, s, WORD_MSG) ? OWN_MSG : 0;
    case 7:
      return isWord(b, s, WORD_CREATED) ? OWN_CREATED : isWord(b, s, WORD_MESSAGE) ? OWN_SKIP : 0;
    case 9:
      return isWord(b, s, WORD_LEVELNAME) ? OWN_LEVELNAME : 0;
    case 13:
      return isWord(b, s, WORD_CREATED_HUMAN) ? OWN_SKIP : 0;
    default:
      return 0;
  }
}

/** Open-addressing table of the record's keys, to find a repeated key in O(1). */
const KEY_SLOTS = 1024;
const slotStamp = new Int32Array(KEY_SLOTS);
const slotKey = new Int32Array(KEY_SLOTS);
let stamp = 0;

/** Starts an empty key set for a dict of `pairs` keys; false (decline) if it has too many for the table. */
function newKeySet(pairs: number): boolean {
  if (pairs > KEY_SLOTS / 2) return false;
  stamp = (stamp + 1) | 0;
  if (stamp === 0) {
    slotStamp.fill(0);
    stamp = 1;
  }
  return true;
}

/** Adds key value `k` (a str) to the current key set; false if an equal key is already there. */
function addKey(b: Buffer, k: number): boolean {
  const src = vKind[k] === FRAME_STR ? b : scratch;
  const s = vA[k];
  const e = vB[k];
  let h = 0x811c9dc5;
  for (let i = s; i < e; i++) h = Math.imul(h ^ src[i], 0x01000193);
  let slot = (h >>> 0) & (KEY_SLOTS - 1);
  while (slotStamp[slot] === stamp) {
    if (sameText(b, slotKey[slot], k)) return false;
    slot = (slot + 1) & (KEY_SLOTS - 1);
  }
  slotStamp[slot] = stamp;
  slotKey[slot] = k;
  return true;
}

const enc = (s: string) => Buffer.from(s, 'latin1');
const HEAD = enc('{"message":');
const LEVELNAME = enc(',"levelname":');
const CREATED = enc(',"created":');
const CREATED_HUMAN = enc(',"created_human":"');
const TAIL = enc('}\n');

function writeValue(b: Buffer, out: LineBuffer, id: number): void {
  if (vKind[id] === FRAME_STR) out.quoted(b, vA[id], vB[id]);
  else out.range(scratch, vA[id], vB[id]);
}

/** Which own key each pair of the record has (ownKey), by pair. */
let pairOwn = new Uint8Array(128);

function assemble(b: Buffer, out: LineBuffer, humanTime: HumanTime, items: number[], count: number): boolean {
  const pairs = count / 2;
  if (!newKeySet(pairs)) return false;
  let msg = -1;
  let levelname = -1;
  let created = -1;
  if (pairOwn.length < pairs) pairOwn = new Uint8Array(pairs * 2);
  for (let i = 0; i < count; i += 2) {
    const k = items[i];
    // Top-level keys must be plain str (the general path converts the others) and distinct.
    if (vKind[k] !== FRAME_STR || !addKey(b, k)) return false;
    const own = ownKey(b, vA[k], vB[k]);
    pairOwn[i >> 1] = own;
    switch (own) {
      case OWN_MSG:
        msg = items[i + 1];
        break;
      case OWN_LEVELNAME:
        levelname = items[i + 1];
        break;
      case OWN_CREATED:
        created = items[i + 1];
        break;
    }
  }
  // `created` must be a finite number and `msg` a str; otherwise the general path decides (or refuses).
  if (created < 0 || vStr[created] === 1 || !(vNum[created] > MIN_CREATED && vNum[created] < MAX_CREATED)) return false;
  if (msg >= 0 && vStr[msg] !== 1) return false;
  // A line past the bound declines (and the general path refuses it as too large): a memo can repeat one big
  // str in every field, and the line would be hundreds of times the frame.
  let length = 0;
  for (let i = 0; i < count; i++) length += vB[items[i]] - vA[items[i]] + 3;
  if (length > scratchLimit) return false;
  out.bytes(HEAD);
  if (msg < 0) out.ascii('""');
  else writeValue(b, out, msg);
  out.bytes(LEVELNAME);
  if (levelname < 0) out.ascii('null');
  else writeValue(b, out, levelname);
  out.bytes(CREATED);
  writeValue(b, out, created);
  out.bytes(CREATED_HUMAN);
  out.ascii(humanTime(vNum[created]));
  out.ascii('"');
  for (let i = 0; i < count; i += 2) {
    const own = pairOwn[i >> 1];
    if (own !== 0 && own !== OWN_MSG) continue;
    const k = items[i];
    out.nextKey(b, vA[k], vB[k]);
    writeValue(b, out, items[i + 1]);
  }
  out.bytes(TAIL);
  return true;
}
