/**
 * The transcoder: pickle bytes straight to JSON line bytes, for the shape nearly every SocketHandler record
 * has — one flat dict of str keys and scalar values (str, int of any size, float, None, bool) in protocols 1–5.
 *
 * No value object is built: a str whose UTF-8 bytes need no JSON escaping is copied byte for byte from the
 * frame; numbers are written from their opcode; the line is assembled once, in the output order, into the
 * caller's LineBuffer. Anything outside that shape (a nested container, a class, escapes it cannot prove
 * equal, a malformed byte) makes it decline and leave the output untouched; the caller then uses the general
 * path, which gives the same line or the same refusal (test/differential.test.ts).
 */
import { isUtf8 } from 'node:buffer';
import type { LineBuffer } from '../line-buffer';
import type { HumanTime } from '../time';
import { floatJson } from './values';

/** A value is either bytes of the frame written between quotes, or JSON text. */
const RANGE = 0;
const TEXT = 1;

/** Parsed pairs of the record dict, reused between calls (the transcoder is synchronous). */
let keyStart = new Int32Array(64);
let keyEnd = new Int32Array(64);
let valKind = new Uint8Array(64);
let valStart = new Int32Array(64);
let valEnd = new Int32Array(64);
let valText: (string | null)[] = new Array(64).fill(null);
let valNum = new Float64Array(64);
let valIsStr = new Uint8Array(64);
let keyOwn = new Uint8Array(64);
let pairs = 0;

/** Memo slots: a str (frame range) or scalar (text + number); -1 kind = not usable here. */
const memoKind: number[] = [];
const memoA: number[] = [];
const memoB: number[] = [];
const memoText: (string | null)[] = [];
const memoNum: number[] = [];
const memoIsStr: boolean[] = [];

// The value being read.
let kind = 0;
let start = 0;
let end = 0;
let text: string | null = null;
let num = NaN;
/** Whether the value is a Python str. */
let isStr = false;

function grow(): void {
  const n = keyStart.length * 2;
  const g32 = (a: Int32Array) => {
    const b = new Int32Array(n);
    b.set(a);
    return b;
  };
  keyStart = g32(keyStart);
  keyEnd = g32(keyEnd);
  valStart = g32(valStart);
  valEnd = g32(valEnd);
  const k = new Uint8Array(n);
  k.set(valKind);
  valKind = k;
  const f = new Float64Array(n);
  f.set(valNum);
  valNum = f;
  const st = new Uint8Array(n);
  st.set(valIsStr);
  valIsStr = st;
  const ko = new Uint8Array(n);
  ko.set(keyOwn);
  keyOwn = ko;
  valText = valText.concat(new Array(n - valText.length).fill(null));
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

const OWN_LEVELNAME = 2;
const OWN_CREATED = 3;
const OWN_SKIP = 4; // `message`, `created_human`: written by the formatter itself
const OWN_MSG = 5;

/** Which of the keys the formatter treats specially [s, e) is, by its bytes. */
function ownKey(b: Buffer, s: number, e: number): number {
  const n = e - s;
  const is = (word: string) => {
    for (let i = 0; i < n; i++) if (b[s + i] !== word.charCodeAt(i)) return false;
    return true;
  };
  switch (n) {
    case 3:
      return is('msg') ? OWN_MSG : 0;
    case 7:
      return is('created') ? OWN_CREATED : is('message') ? OWN_SKIP : 0;
    case 9:
      return is('levelname') ? OWN_LEVELNAME : 0;
    case 13:
      return is('created_human') ? OWN_SKIP : 0;
    default:
      return 0;
  }
}

/** Open-addressing table of the keys seen in the current record, to find a repeated key in O(1). */
const KEY_SLOTS = 256;
const slotStamp = new Int32Array(KEY_SLOTS);
const slotPair = new Int32Array(KEY_SLOTS);
let stamp = 0;

/** Adds pair `i`'s key; false if an equal key is already there. */
function addKey(b: Buffer, i: number): boolean {
  const s = keyStart[i];
  const e = keyEnd[i];
  let h = 0x811c9dc5;
  for (let k = s; k < e; k++) h = Math.imul(h ^ b[k], 0x01000193);
  let slot = (h >>> 0) & (KEY_SLOTS - 1);
  while (slotStamp[slot] === stamp) {
    const j = slotPair[slot];
    if (sameBytes(b, keyStart[j], keyEnd[j], s, e)) return false;
    slot = (slot + 1) & (KEY_SLOTS - 1);
  }
  slotStamp[slot] = stamp;
  slotPair[slot] = i;
  return true;
}

function sameBytes(b: Buffer, s1: number, e1: number, s2: number, e2: number): boolean {
  if (e1 - s1 !== e2 - s2) return false;
  for (let i = 0; i < e1 - s1; i++) if (b[s1 + i] !== b[s2 + i]) return false;
  return true;
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

/**
 * Writes the line for the record in `b` to `out` and returns true, or returns false (declines) without
 * writing anything.
 */
export function transcodeRecord(b: Buffer, out: LineBuffer, humanTime: HumanTime): boolean {
  const n = b.length;
  let p = 0;
  memoKind.length = 0;
  pairs = 0;
  stamp = (stamp + 1) | 0;
  if (stamp === 0) {
    slotStamp.fill(0);
    stamp = 1;
  }
  if (p + 1 < n && b[p] === 0x80) {
    if (b[p + 1] > 5) return false;
    p += 2;
  }
  if (p < n && b[p] === 0x95) p += 9; // FRAME: a hint only
  if (p >= n || b[p] !== 0x7d /* EMPTY_DICT */) return false;
  p++;
  p = memoPut(b, p, -1);
  if (p < 0) return false;
  let inMark = false;
  let haveKey = false;
  let kS = 0;
  let kE = 0;
  for (;;) {
    if (p >= n) return false;
    const op = b[p++];
    switch (op) {
      case 0x28 /* ( */:
        if (inMark || haveKey) return false;
        inMark = true;
        continue;
      case 0x75 /* u SETITEMS */:
        if (!inMark || haveKey) return false;
        inMark = false;
        continue;
      case 0x73 /* s SETITEM */:
        return false; // single-item form: rare, general path
      case 0x2e /* . STOP */:
        if (inMark || haveKey) return false;
        return assemble(b, out, humanTime);
    }
    if (!inMark) return false;
    p = readScalar(b, p - 1, n);
    if (p < 0) return false;
    if (!haveKey) {
      if (kind !== RANGE) return false; // only str keys here
      kS = start;
      kE = end;
      haveKey = true;
      p = memoPut(b, p, 0);
      if (p < 0) return false;
      continue;
    }
    p = memoPut(b, p, 1);
    if (p < 0) return false;
    haveKey = false;
    if (pairs === keyStart.length) grow();
    keyStart[pairs] = kS;
    keyEnd[pairs] = kE;
    // A key seen before: Python keeps its first position and the last value. Rare: general path.
    // Over half the table full: also the general path.
    if (pairs >= KEY_SLOTS / 2 || !addKey(b, pairs)) return false;
    keyOwn[pairs] = ownKey(b, kS, kE);
    valKind[pairs] = kind;
    valStart[pairs] = start;
    valEnd[pairs] = end;
    valText[pairs] = text;
    valNum[pairs] = num;
    valIsStr[pairs] = isStr ? 1 : 0;
    pairs++;
  }
}

/**
 * After a key (isValue 0) or value (1) or the dict (-1): an optional BINPUT/LONG_BINPUT/MEMOIZE storing it.
 * Returns the new position, or -1.
 */
function memoPut(b: Buffer, p: number, isValue: number): number {
  if (p >= b.length) return p;
  const op = b[p];
  let slot: number;
  if (op === 0x71) {
    if (p + 1 >= b.length) return -1;
    slot = b[p + 1];
    p += 2;
  } else if (op === 0x72) {
    if (p + 4 >= b.length) return -1;
    slot = b.readUInt32LE(p + 1);
    if (slot > 65535) return -1;
    p += 5;
  } else if (op === 0x94) {
    slot = memoKind.length;
    p += 1;
  } else return p;
  while (memoKind.length < slot) memoKind.push(-1);
  memoKind[slot] = isValue < 0 ? -1 : kind;
  memoA[slot] = start;
  memoB[slot] = end;
  memoText[slot] = text;
  memoNum[slot] = num;
  memoIsStr[slot] = isStr;
  return p;
}

/** Reads one scalar at `p` into kind/start/end/text/num; returns the position after it, or -1. */
function readScalar(b: Buffer, p: number, n: number): number {
  const op = b[p++];
  text = null;
  num = NaN;
  kind = TEXT;
  isStr = false;
  switch (op) {
    case 0x58 /* X BINUNICODE */:
    case 0x8c /* SHORT_BINUNICODE */: {
      let len: number;
      if (op === 0x58) {
        if (p + 4 > n) return -1;
        len = b.readUInt32LE(p);
        p += 4;
      } else {
        if (p >= n) return -1;
        len = b[p++];
      }
      if (len > n - p) return -1;
      isStr = true;
      if (plainString(b, p, p + len)) {
        kind = RANGE;
        start = p;
        end = p + len;
      } else {
        text = JSON.stringify(b.utf8Slice(p, p + len));
        start = p;
        end = p + len;
      }
      return p + len;
    }
    case 0x4e /* N */:
      text = 'null';
      return p;
    case 0x88:
      text = 'true';
      return p;
    case 0x89:
      text = 'false';
      return p;
    case 0x4b /* K */:
      if (p >= n) return -1;
      num = b[p];
      text = String(num);
      return p + 1;
    case 0x4d /* M */:
      if (p + 2 > n) return -1;
      num = b[p] | (b[p + 1] << 8);
      text = String(num);
      return p + 2;
    case 0x4a /* J */:
      if (p + 4 > n) return -1;
      num = b.readInt32LE(p);
      text = String(num);
      return p + 4;
    case 0x47 /* G */:
      if (p + 8 > n) return -1;
      num = b.readDoubleBE(p);
      text = floatJson(num);
      return p + 8;
    case 0x49 /* I */:
    case 0x4c /* L */: {
      const nl = b.indexOf(10, p);
      if (nl < 0 || nl - p > 400) return -1;
      let t = b.latin1Slice(p, nl);
      if (op === 0x49 && (t === '01' || t === '00')) {
        text = t === '01' ? 'true' : 'false';
        return nl + 1;
      }
      if (op === 0x4c && t.charCodeAt(t.length - 1) === 76) t = t.slice(0, -1);
      if (!DIGITS.test(t) || t === '-0') return -1;
      text = t;
      num = Number(t);
      return nl + 1;
    }
    case 0x8a /* LONG1 */: {
      if (p >= n) return -1;
      const len = b[p++];
      if (len > n - p) return -1;
      text = long1Text(b, p, len);
      num = Number(text);
      return p + len;
    }
    case 0x68 /* h BINGET */:
    case 0x6a /* j LONG_BINGET */: {
      let slot: number;
      if (op === 0x68) {
        if (p >= n) return -1;
        slot = b[p++];
      } else {
        if (p + 4 > n) return -1;
        slot = b.readUInt32LE(p);
        p += 4;
      }
      if (slot >= memoKind.length || memoKind[slot] < 0) return -1;
      kind = memoKind[slot];
      start = memoA[slot];
      end = memoB[slot];
      text = memoText[slot];
      num = memoNum[slot];
      isStr = memoIsStr[slot];
      return p;
    }
    default:
      return -1;
  }
}

const enc = (s: string) => Buffer.from(s, 'latin1');
const HEAD = enc('{"message":');
const LEVELNAME = enc(',"levelname":');
const CREATED = enc(',"created":');
const CREATED_HUMAN = enc(',"created_human":"');
const TAIL = enc('}\n');

function assemble(b: Buffer, out: LineBuffer, humanTime: HumanTime): boolean {
  let msg = -1;
  let levelname = -1;
  let created = -1;
  for (let i = 0; i < pairs; i++) {
    switch (keyOwn[i]) {
      case OWN_MSG:
        msg = i;
        break;
      case OWN_LEVELNAME:
        levelname = i;
        break;
      case OWN_CREATED:
        created = i;
        break;
    }
  }
  // `created` must be a finite number and `msg` a str; otherwise the general path decides (or refuses).
  if (created < 0 || valIsStr[created] === 1 || !Number.isFinite(valNum[created])) return false;
  if (msg >= 0 && valIsStr[msg] === 0) return false;
  out.bytes(HEAD);
  if (msg < 0) out.ascii('""');
  else writeValue(b, out, msg);
  out.bytes(LEVELNAME);
  if (levelname < 0) out.ascii('null');
  else writeValue(b, out, levelname);
  out.bytes(CREATED);
  writeValue(b, out, created);
  out.bytes(CREATED_HUMAN);
  out.ascii(humanTime(valNum[created]));
  out.ascii('"');
  for (let i = 0; i < pairs; i++) {
    const own = keyOwn[i];
    if (own !== 0 && own !== OWN_MSG) continue;
    out.ascii(',"');
    out.range(b, keyStart[i], keyEnd[i]);
    out.ascii('":');
    writeValue(b, out, i);
  }
  out.bytes(TAIL);
  return true;
}

function writeValue(b: Buffer, out: LineBuffer, i: number): void {
  if (valKind[i] === RANGE) {
    out.ascii('"');
    out.range(b, valStart[i], valEnd[i]);
    out.ascii('"');
  } else out.utf8(valText[i]!);
}
