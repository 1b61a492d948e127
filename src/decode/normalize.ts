/**
 * Rewrites a pickle so that pickleparser reads it right.
 *
 * pickleparser runs the opcodes but gets some values wrong: it reads LONG1/LONG4 unsigned and rounds or rejects
 * ints past 2**53, turns floats into plain numbers (1.0 becomes 1), cannot parse `inf`/`nan` text floats, does not
 * unescape protocol-0 strings, and builds DICT (protocol 0) by property assignment. This pass walks the opcodes
 * once (checking every argument length against the bytes actually there) and replaces those opcodes with calls
 * to constructors only this process can name (`c<secret>\nint\n … R`), so the values come out as PyInt/PyFloat.
 * Every other byte is passed through unchanged.
 */
import { randomBytes } from 'node:crypto';
import { RefusedRecord } from '../core/refusals';
import { isUtf8 } from 'node:buffer';
import { bytesToText } from '../format/values';

/** The module name of the marker constructors; random per process so that no client can forge a marker. */
export const MARKER_MODULE = `__log_server_${randomBytes(8).toString('hex')}`;

const enum Arg {
  None,
  U1,
  U2,
  U4,
  U8,
  Line,
  TwoLines,
  Len1,
  Len4,
  Len8,
}

/** Argument layout of every opcode of protocols 0–5 (see CPython Lib/pickletools.py). */
const ARG = new Int8Array(256).fill(-1);
for (const [ops, arg] of [
  ['(.0 1 2 N Q R a b d } e l ] o s t ) u \x81 \x85 \x86 \x87 \x88 \x89 \x8f \x90 \x91 \x92 \x93 \x94 \x97 \x98', Arg.None],
  ['K h q \x80 \x82', Arg.U1],
  ['M \x83', Arg.U2],
  ['J j r \x84', Arg.U4],
  ['\x95 G', Arg.U8],
  ['F I L P S V g p', Arg.Line],
  ['c i', Arg.TwoLines],
  ['U C \x8c \x8a', Arg.Len1],
  ['T X B \x8b', Arg.Len4],
  ['\x8d \x8e \x96', Arg.Len8],
] as const) {
  for (const op of ops.split(' ').join('')) ARG[op.charCodeAt(0)] = arg;
}

/** Opcodes that pop the stack down to the last MARK. */
const USES_MARK = new Set([...'1telduio\x90\x91'].map((c) => c.charCodeAt(0)));

const bad = (why: string) => new RefusedRecord('bad-pickle', why);

export function normalizePickle(input: Uint8Array): Buffer {
  const src = Buffer.from(input.buffer, input.byteOffset, input.byteLength);
  const out: Buffer[] = [];
  const marks: number[] = []; // index in `out` of each open MARK
  let copyFrom = 0; // start of the run of unchanged bytes not yet pushed to `out`
  let pos = 0;
  const flushRun = (end: number) => {
    if (end > copyFrom) out.push(src.subarray(copyFrom, end));
  };
  const need = (n: number) => {
    if (n < 0 || pos + n > src.length) throw bad('truncated pickle');
  };
  const readLine = (): string => {
    const nl = src.indexOf(0x0a, pos);
    if (nl < 0) throw bad('truncated pickle (no end of line)');
    const text = src.toString('latin1', pos, nl);
    pos = nl + 1;
    return text;
  };
  while (pos < src.length) {
    const opAt = pos;
    const op = src[pos++];
    const arg = ARG[op];
    if (arg < 0) throw bad(`unknown opcode 0x${op.toString(16).padStart(2, '0')} at byte ${opAt}`);
    if (op === 0x2e /* . STOP */) {
      flushRun(pos);
      return Buffer.concat(out);
    }
    if (op === 0x28 /* ( MARK */) {
      flushRun(opAt);
      marks.push(out.length);
      out.push(src.subarray(opAt, pos));
      copyFrom = pos;
      continue;
    }
    if (USES_MARK.has(op)) {
      const mark = marks.pop();
      if (mark === undefined) throw bad(`opcode ${String.fromCharCode(op)} without a MARK`);
      if (op === 0x64 /* d DICT: build as EMPTY_DICT MARK … SETITEMS */) {
        flushRun(opAt);
        out[mark] = Buffer.from('}(', 'latin1');
        out.push(Buffer.from('u', 'latin1'));
        copyFrom = pos;
        continue;
      }
    }
    let replacement: Buffer | undefined;
    switch (op) {
      case 0x47 /* G BINFLOAT */:
        need(8);
        replacement = floatMarker(src.readDoubleBE(pos));
        pos += 8;
        break;
      case 0x46 /* F FLOAT */:
        replacement = floatMarker(parsePythonFloat(readLine()));
        break;
      case 0x49 /* I INT */: {
        const text = readLine();
        if (text === '00' || text === '01') break; // booleans, read right
        const n = parseDecimalInt(text);
        if (n >= -0x80000000n && n <= 0x7fffffffn) replacement = binInt(Number(n));
        else replacement = intMarker(n);
        break;
      }
      case 0x4c /* L LONG */:
        replacement = intMarker(parseDecimalInt(readLine().replace(/L$/, '')));
        break;
      case 0x8a /* LONG1 */:
      case 0x8b /* LONG4 */: {
        need(op === 0x8a ? 1 : 4);
        const n = op === 0x8a ? src[pos] : src.readInt32LE(pos);
        pos += op === 0x8a ? 1 : 4;
        need(n);
        replacement = intMarker(littleEndianSigned(src.subarray(pos, pos + n)));
        pos += n;
        break;
      }
      case 0x53 /* S STRING: a quoted, escaped Python 2 str */:
        replacement = unicodeOp(python2StrText(Buffer.from(unquoteString(readLine()), 'latin1')));
        break;
      case 0x56 /* V UNICODE: raw-unicode-escape */:
        replacement = unicodeOp(rawUnicodeUnescape(readLine()));
        break;
      case 0x54 /* T BINSTRING */:
      case 0x55 /* U SHORT_BINSTRING: a Python 2 str */: {
        need(op === 0x55 ? 1 : 4);
        const n = op === 0x55 ? src[pos] : src.readInt32LE(pos);
        pos += op === 0x55 ? 1 : 4;
        need(n);
        replacement = unicodeOp(python2StrText(src.subarray(pos, pos + n)));
        pos += n;
        break;
      }
      case 0x58 /* X BINUNICODE */:
      case 0x8c /* SHORT_BINUNICODE */:
      case 0x8d /* BINUNICODE8 */: {
        const lenBytes = op === 0x8c ? 1 : op === 0x58 ? 4 : 8;
        const start = pos + lenBytes;
        skipArgument(arg);
        if (pos - start >= 3 && src[start] === 0xef && src[start + 1] === 0xbb && src[start + 2] === 0xbf) {
          replacement = unicodeOp(src.toString('utf8', start + 3, pos), true);
        }
        break;
      }
      default:
        skipArgument(arg);
    }
    if (replacement !== undefined) {
      flushRun(opAt);
      out.push(replacement);
      copyFrom = pos;
    }
  }
  throw bad('truncated pickle (no STOP)');

  function skipArgument(arg: number): void {
    switch (arg) {
      case Arg.None:
        return;
      case Arg.U1:
        need(1);
        pos += 1;
        return;
      case Arg.U2:
        need(2);
        pos += 2;
        return;
      case Arg.U4:
        need(4);
        pos += 4;
        return;
      case Arg.U8:
        need(8);
        pos += 8;
        return;
      case Arg.Line:
        readLine();
        return;
      case Arg.TwoLines:
        readLine();
        readLine();
        return;
      case Arg.Len1:
        need(1);
        pos += 1;
        need(src[pos - 1]);
        pos += src[pos - 1];
        return;
      case Arg.Len4: {
        need(4);
        const n = src.readUInt32LE(pos);
        pos += 4;
        need(n);
        pos += n;
        return;
      }
      case Arg.Len8: {
        need(8);
        const n = src.readBigUInt64LE(pos);
        pos += 8;
        if (n > BigInt(src.length - pos)) throw bad('truncated pickle');
        pos += Number(n);
        return;
      }
    }
  }
}

function global(name: string): Buffer {
  return Buffer.from(`c${MARKER_MODULE}\n${name}\n`, 'latin1');
}
const INT_GLOBAL = global('int');
const FLOAT_GLOBAL = global('float');
const TUPLE1_REDUCE = Buffer.from([0x85, 0x52]);

function binInt(n: number): Buffer {
  const b = Buffer.alloc(5);
  b[0] = 0x4a; // J BININT
  b.writeInt32LE(n, 1);
  return b;
}

/** pickleparser's TextDecoder drops a leading U+FEFF: a str that starts with one gets a second, to be dropped. */
const BOM = Buffer.from([0xef, 0xbb, 0xbf]);

/** A BINUNICODE of `text`; `leadingBom` puts a U+FEFF (already cut from `text`) back in front. */
function unicodeOp(text: string, leadingBom = false): Buffer {
  let body = Buffer.from(text, 'utf8');
  if (leadingBom || (body[0] === 0xef && body[1] === 0xbb && body[2] === 0xbf)) {
    body = Buffer.concat(leadingBom ? [BOM, BOM, body] : [BOM, body]);
  }
  const head = Buffer.alloc(5);
  head[0] = 0x58; // X BINUNICODE
  head.writeUInt32LE(body.length, 1);
  return Buffer.concat([head, body]);
}

/** marker_int("<digits>") — the constructor turns the digits into a PyInt. */
function intMarker(n: bigint): Buffer {
  return Buffer.concat([INT_GLOBAL, unicodeOp(n.toString()), TUPLE1_REDUCE]);
}

/** marker_float(b"<8 bytes big-endian>") — the constructor turns them into a PyFloat. */
function floatMarker(x: number): Buffer {
  const b = Buffer.alloc(10);
  b[0] = 0x43; // C SHORT_BINBYTES
  b[1] = 8;
  b.writeDoubleBE(x, 2);
  return Buffer.concat([FLOAT_GLOBAL, b, TUPLE1_REDUCE]);
}

function parseDecimalInt(text: string): bigint {
  const t = text.trim();
  if (t.length > MAX_INT_DIGITS) throw new RefusedRecord('too-large', `an int of ${t.length} digits`);
  if (!/^[+-]?\d+$/.test(t)) throw bad(`bad int literal ${JSON.stringify(text.slice(0, 40))}`);
  return BigInt(t);
}

/** Python's float() of a FLOAT opcode's text: repr forms plus nan/inf spellings. */
function parsePythonFloat(text: string): number {
  const t = text.trim().toLowerCase();
  if (t === 'nan' || t === '+nan' || t === '-nan') return NaN;
  if (t === 'inf' || t === '+inf' || t === 'infinity' || t === '+infinity') return Infinity;
  if (t === '-inf' || t === '-infinity') return -Infinity;
  if (!/^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/.test(t)) throw bad(`bad float literal ${JSON.stringify(text.slice(0, 40))}`);
  return Number(t);
}

/** Two's-complement little-endian bytes (LONG1/LONG4) to a bigint. */
function littleEndianSigned(b: Buffer): bigint {
  if (b.length === 0) return 0n;
  if (b.length > MAX_INT_BYTES) throw new RefusedRecord('too-large', `an int of ${b.length} bytes`);
  let n = BigInt('0x' + Buffer.from(b).reverse().toString('hex')); // linear, unlike a shift per byte
  if (b[b.length - 1] & 0x80) n -= 1n << BigInt(8 * b.length);
  return n;
}

/** Ints past these sizes (about 10,000 digits; Python's own int/str limit is 4,300 digits) are refused: their
 * decimal conversion grows with the square of their length. */
const MAX_INT_BYTES = 4096;
const MAX_INT_DIGITS = 10_000;

/** The `S` opcode's argument: a quoted Python 2 string literal with backslash escapes, read as latin-1. */
/**
 * A Python 2 `str` (STRING, BINSTRING, SHORT_BINSTRING) is bytes, which Python 2 programs hold text in — UTF-8 in
 * practice: valid UTF-8 becomes the text it holds; anything else follows the rule for bytes (format/values.ts,
 * `bytesToText`: UTF-8 where it is, `\xNN` for the other bytes).
 */
function python2StrText(bytes: Buffer): string {
  return isUtf8(bytes) ? bytes.toString('utf8') : bytesToText(bytes);
}

function unquoteString(line: string): string {
  const q = line[0];
  if (line.length < 2 || (q !== "'" && q !== '"') || line[line.length - 1] !== q) throw bad('insecure string pickle');
  const body = line.slice(1, -1);
  return body.replace(/\\(x[0-9a-fA-F]{2}|[0-7]{1,3}|.)/gs, (_, e: string) => {
    if (e[0] === 'x') return String.fromCharCode(parseInt(e.slice(1), 16));
    if (/^[0-7]/.test(e)) return String.fromCharCode(parseInt(e, 8) & 0xff);
    const simple: Record<string, string> = { n: '\n', r: '\r', t: '\t', b: '\b', f: '\f', v: '\v', a: '\x07', '\n': '' };
    return simple[e] ?? e;
  });
}

/** raw-unicode-escape: latin-1 text in which only \uXXXX and \UXXXXXXXX are escapes. */
function rawUnicodeUnescape(line: string): string {
  return line.replace(/\\u([0-9a-fA-F]{4})|\\U([0-9a-fA-F]{8})/g, (_, u4?: string, u8?: string) => {
    const cp = parseInt((u4 ?? u8) as string, 16);
    if (cp > 0x10ffff) throw bad('bad \\U escape');
    return String.fromCodePoint(cp);
  });
}
