/**
 * Hostile frames, as a client bent on harm would send them: reference bombs of lists, tuples, dicts and strings
 * (pickle memo references: a few hundred bytes for 2**60 leaves), deep nesting, long lists, big ints, many keys,
 * garbage, and random mutations of a real record. Each is a whole SocketHandler frame (4-byte length + pickle).
 * Used by scripts/hostile-soak.ts and test/hostile-soak.test.ts.
 */
export { rng } from '../../test/fuzz-frames';

export const HOSTILE_KINDS = [
  'list-bomb',
  'tuple-bomb',
  'dict-bomb',
  'str-bomb',
  'deep',
  'long-list',
  'big-int',
  'many-keys',
  'garbage',
  'mutation',
] as const;
export type HostileKind = (typeof HOSTILE_KINDS)[number];

const op = (s: string) => Buffer.from(s, 'latin1');
const u32le = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n);
  return b;
};
const str = (s: string) => {
  const b = Buffer.from(s, 'utf8');
  return Buffer.concat([op('X'), u32le(b.length), b]);
};
const created = () => {
  const b = Buffer.alloc(9);
  b[0] = 0x47; // BINFLOAT
  b.writeDoubleBE(Date.now() / 1000, 1);
  return b;
};

/** A record {created, msg, extra: <value>} around the opcodes that build `value`. */
function record(value: Buffer[]): Buffer {
  return Buffer.concat([op('\x80\x02}('), str('created'), created(), str('msg'), str('hostile'), str('extra'), ...value, op('u.')]);
}

/** A record whose extra is `b = OPEN b b CLOSE` `levels` times through the memo (2**levels leaves). */
export function bomb(kind: 'list' | 'tuple' | 'dict' | 'str', levels: number): Buffer {
  const parts: Buffer[] = [
    kind === 'str' ? Buffer.concat([str('x'.repeat(1000))]) : op({ list: ']', tuple: ')', dict: '}' }[kind]),
    op('q\x000'),
  ];
  for (let i = 0; i < levels; i++) {
    const get = op('h' + String.fromCharCode(i % 256));
    const put = op('q' + String.fromCharCode((i + 1) % 256));
    if (kind === 'list' || kind === 'str') parts.push(op(']('), get, get, op('e'), put);
    else if (kind === 'tuple') parts.push(get, get, op('\x86'), put);
    else parts.push(op('}('), str('a'), get, str('b'), get, op('u'), put);
    if (i < levels - 1) parts.push(op('0'));
  }
  return record(parts);
}

/** A plain record like SocketHandler's (protocol 1 as it sends, enough fields to be real). */
export function realRecord(seq: number): Buffer {
  return Buffer.concat([
    op('}q\x00(X'),
    u32le(4),
    op('name'),
    str('app.hostile'),
    str('msg'),
    str(`honest-looking record ${seq}`),
    str('levelname'),
    str('INFO'),
    str('levelno'),
    op('K\x14'),
    str('created'),
    created(),
    op('u.'),
  ]).subarray(0);
}

/** One hostile pickle (no length prefix) of `kind`; `random` in [0, 1) drives the mutations. */
export function hostilePickle(kind: HostileKind, random: () => number): Buffer {
  switch (kind) {
    case 'list-bomb':
      return bomb('list', 60);
    case 'tuple-bomb':
      return bomb('tuple', 60);
    case 'dict-bomb':
      return bomb('dict', 60);
    case 'str-bomb':
      return bomb('str', 40);
    case 'deep':
      return record([Buffer.alloc(200_000, ']'), Buffer.alloc(199_999, 'a')]);
    case 'long-list': {
      // 400,000 small ints through one APPENDS: an 800 KB frame (within --max-frame) and a line of 800 KB.
      const items = Buffer.alloc(2 * 400_000);
      for (let i = 0; i < 400_000; i++) items.write('K\x07', 2 * i, 'latin1');
      return record([op(']('), items, op('e')]);
    }
    case 'big-int': {
      // LONG4 of 512 KiB: a 1.3 million digit int.
      const n = 1 << 19;
      return record([op('\x8b'), u32le(n), Buffer.alloc(n, 0x5a)]);
    }
    case 'many-keys': {
      const parts: Buffer[] = [op('}(')];
      for (let i = 0; i < 50_000; i++) parts.push(str(`k${i}`), op('K\x01'));
      parts.push(op('u'));
      return record(parts);
    }
    case 'garbage': {
      const b = Buffer.alloc(64 + Math.floor(random() * 4000));
      for (let i = 0; i < b.length; i++) b[i] = Math.floor(random() * 256);
      return b;
    }
    case 'mutation': {
      const b = Buffer.from(realRecord(Math.floor(random() * 1e6)));
      for (let k = 0; k < 1 + Math.floor(random() * 4); k++) b[Math.floor(random() * b.length)] = Math.floor(random() * 256);
      return random() < 0.3 ? b.subarray(0, Math.floor(random() * b.length)) : b;
    }
  }
}

/** A whole frame: the big-endian length, then the pickle. */
export function frame(pickle: Buffer): Buffer {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(pickle.length);
  return Buffer.concat([len, pickle]);
}
