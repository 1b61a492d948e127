/**
 * --client-field NAME: one more field at the end of every line, saying who sent the record:
 *
 *   ..., "NAME": {"address": "10.0.0.5", "port": 51234, "input": "tcp", "tls": true, "cn": "app-1", "subject": "O=Example, CN=app-1"}}
 *
 * `address` is the client's IP address (an IPv4-mapped IPv6 address as the IPv4 address it is), `port` its port,
 * `input` tcp, udp or http, `tls` whether the connection was TLS; `cn` and `subject` come only with a client
 * certificate the server verified (--tls-ca): its subject's common name, and the whole subject as its attributes
 * in the certificate's order, joined by ", ".
 *
 * The field is added to the finished line (the bytes any decoder made), so it costs the same for every decoder:
 * the line's closing `}` is replaced by the field, which is made once per connection (per datagram for UDP). A
 * record's own top-level field of the same name is removed first: the client cannot say who it is.
 */
import type { LineBuffer } from './line-buffer';

/** Who sent a record, as the inputs know it. */
export interface ClientIdentity {
  readonly address: string;
  readonly port: number;
  readonly input: 'tcp' | 'udp' | 'http';
  readonly tls: boolean;
  /** With a verified client certificate: its subject's CN (absent when the subject has none). */
  readonly cn?: string;
  /** With a verified client certificate: its subject, e.g. "C=DE, O=Example, CN=app-1". */
  readonly subject?: string;
}

/** The field's name, ready to be added to lines. */
export class ClientField {
  /** `"NAME":` as it appears in a line, to find a record's own field of that name. */
  private readonly key: Buffer;

  constructor(readonly name: string) {
    this.key = Buffer.from(`${JSON.stringify(name)}:`, 'utf8');
  }

  /** The bytes that replace a line's closing "}\n": `,"NAME":{...}}\n`. */
  fragment(who: ClientIdentity): Buffer {
    const value: Record<string, unknown> = { address: who.address, port: who.port, input: who.input, tls: who.tls };
    if (who.cn !== undefined) value.cn = who.cn;
    if (who.subject !== undefined) value.subject = who.subject;
    return Buffer.from(`,${JSON.stringify(this.name)}:${JSON.stringify(value)}}\n`, 'utf8');
  }

  /**
   * Adds `fragment` (from fragment()) to the line written into `out` since `start`; does nothing if no line was
   * written there (a refused record).
   */
  add(out: LineBuffer, start: number, fragment: Buffer): void {
    const slab = out.reserve(fragment.length);
    let end = out.end;
    if (end - start < 3 || slab[end - 2] !== CLOSE_BRACE || slab[end - 1] !== NEWLINE) return;
    if (slab.subarray(start, end).indexOf(this.key) >= 0) end = dropMembers(slab, start, end, this.key);
    fragment.copy(slab, end - 2);
    out.advance(end - 2 + fragment.length);
  }
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const COLON = 0x3a;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const NEWLINE = 0x0a;

/** Just past the string that starts (with its quote) at `i`. */
function skipString(b: Buffer, i: number, end: number): number {
  for (i++; i < end; i++) {
    if (b[i] === BACKSLASH) i++;
    else if (b[i] === QUOTE) return i + 1;
  }
  return end;
}

/** Where the value that starts at `i` ends: at the `,` or closing bracket after it. */
function valueEnd(b: Buffer, i: number, end: number): number {
  let depth = 0;
  while (i < end) {
    const c = b[i];
    if (c === QUOTE) {
      i = skipString(b, i, end);
      continue;
    }
    if (c === OPEN_BRACE || c === OPEN_BRACKET) depth++;
    else if (c === CLOSE_BRACE || c === CLOSE_BRACKET) {
      if (depth === 0) return i;
      depth--;
    } else if (c === COMMA && depth === 0) return i;
    i++;
  }
  return end;
}

/**
 * Removes every top-level member whose key is `key` (`"NAME":`) from the compact JSON object line in
 * b[start, end); returns the line's new end. (Nested objects with such a key are left alone.)
 */
export function dropMembers(b: Buffer, start: number, end: number, key: Buffer): number {
  let depth = 0;
  let i = start;
  while (i < end) {
    const c = b[i];
    if (c === QUOTE) {
      const atKey = depth === 1 && (b[i - 1] === COMMA || b[i - 1] === OPEN_BRACE);
      if (atKey && i + key.length <= end && b[i + key.length - 1] === COLON && b.compare(key, 0, key.length, i, i + key.length) === 0) {
        const after = valueEnd(b, i + key.length, end);
        // `,"NAME":value` goes; a first member goes with the comma after it instead.
        const [from, to] = b[i - 1] === COMMA ? [i - 1, after] : [i, b[after] === COMMA ? after + 1 : after];
        b.copyWithin(from, to, end);
        end -= to - from;
        i = from;
        continue;
      }
      i = skipString(b, i, end);
      continue;
    }
    if (c === OPEN_BRACE || c === OPEN_BRACKET) depth++;
    else if (c === CLOSE_BRACE || c === CLOSE_BRACKET) depth--;
    i++;
  }
  return end;
}
