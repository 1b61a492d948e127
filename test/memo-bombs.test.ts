/**
 * Small frames that expand: a pickle's memo lets a few hundred bytes refer to one container many times
 * (`b = [b, b]` sixty times is 2**60 leaves). Such a record must be refused (too-large) at a cost in proportion
 * to its bytes and to the line it really makes — not to its expansion: before, one 547-byte frame took seconds
 * of CPU and grew the process by 400–800 MB. Memory is the bound checked here (time is a benchmark's business).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { makeLineMaker } from '../src/decode/record';
import { LineBuffer } from '../src/format/line-buffer';
import { RefusedRecord } from '../src/core/refusals';
import { DEFAULTS } from '../src/config/options';
import { bomb } from '../scripts/lib/hostile-frames';
import { decodeFast, DECLINED } from '../src/decode/fast';

const MiB = 1024 * 1024;

test('reference bombs of lists, tuples and dicts are refused as too-large, each in memory bounded by --max-entry', () => {
  const makeLine = makeLineMaker({ utc: true, maxEntry: DEFAULTS.maxEntry });
  const out = new LineBuffer();
  // The bomb's innards first: a small one becomes a line (the memo is read right).
  makeLine(bomb('list', 3), out);
  assert.match(out.take().toString('utf8'), /"extra":\[\[\[\[\],\[\]\],\[\[\],\[\]\]\],\[\[\[\],\[\]\],\[\[\],\[\]\]\]\]/);
  global.gc?.();
  const before = process.memoryUsage().rss;
  let peak = before;
  for (const kind of ['list', 'tuple', 'dict'] as const) {
    for (let round = 0; round < 3; round++) {
      const frame = bomb(kind, 60);
      assert.ok(frame.length < 1500, `${kind}: ${frame.length} bytes`);
      assert.throws(
        () => makeLine(frame, out),
        (err: unknown) => err instanceof RefusedRecord && err.code === 'too-large',
        kind,
      );
      assert.equal(out.length, 0, 'a refused record leaves nothing in the output');
      peak = Math.max(peak, process.memoryUsage().rss);
    }
  }
  // A frame may cost a small multiple of --max-entry while it is decoded (the line it would make), not its
  // expansion: 9 bombs of 2**60 leaves stay within 6x the entry limit in all.
  assert.ok(peak - before < 6 * DEFAULTS.maxEntry, `the process grew by ${Math.round((peak - before) / MiB)} MiB`);
});

/** A record {created, msg, extra: <opcodes>} as protocol 2 writes it. */
function recordAround(extra: string): Buffer {
  const str = (s: string) => 'X' + String.fromCharCode(s.length, 0, 0, 0) + s;
  const created = Buffer.alloc(8);
  created.writeDoubleBE(1_700_000_000.5);
  return Buffer.from(
    '\x80\x02}(' + str('created') + 'G' + created.toString('latin1') + str('msg') + str('m') + str('extra') + extra + 'u.',
    'latin1',
  );
}

test('the fast decoder refuses deep nesting while it builds it, not after', () => {
  // 200,000 nested lists: before, the decoder built the whole chain (60-210 ms) and the writer refused it after.
  const deep = recordAround(']'.repeat(200_000) + 'a'.repeat(199_999));
  assert.throws(
    () => decodeFast(deep),
    (err: unknown) => err instanceof RefusedRecord && err.code === 'too-deep',
  );
  // The limit itself: the record dict is level 1, so extra may hold 99 levels and not 100.
  const nested = (levels: number) => recordAround(']'.repeat(levels) + 'a'.repeat(levels - 1));
  const ok = decodeFast(nested(99));
  assert.ok(ok instanceof Map, 'a record at the limit decodes');
  const makeLine = makeLineMaker({ utc: true, maxEntry: DEFAULTS.maxEntry });
  const out = new LineBuffer();
  makeLine(nested(99), out);
  assert.match(out.take().toString('utf8'), /"extra":\[{99}\]{99}}/);
  assert.throws(
    () => makeLine(nested(100), out),
    (err: unknown) => err instanceof RefusedRecord && err.code === 'too-deep',
  );
  // Tuples and dicts count as lists do.
  const tuples = recordAround(')' + '\x85'.repeat(200));
  assert.throws(
    () => decodeFast(tuples),
    (err: unknown) => err instanceof RefusedRecord && err.code === 'too-deep',
  );
});

test('a container changed after it went into another makes the fast decoder decline (the general path decides)', () => {
  // L0 holds L1, then L1 gets L2 (and so on): a chain whose heights the fast decoder could not keep.
  let chain = ']q\x00';
  for (let i = 1; i <= 200; i++) chain += ']q' + String.fromCharCode(i) + 'ah' + String.fromCharCode(i);
  const frame = recordAround(chain);
  assert.equal(decodeFast(frame), DECLINED);
  // A list that contains itself, as Python pickles `a = []; a.append(a)`: declined, then refused as cyclic.
  const cyclic = recordAround(']q\x01h\x01a');
  assert.throws(
    () => makeLineMaker({ utc: true, maxEntry: DEFAULTS.maxEntry })(cyclic, new LineBuffer()),
    (err: unknown) => err instanceof RefusedRecord && err.code === 'cyclic',
  );
});

test('a record whose line passes --max-entry is refused as too-large, whatever makes it long', () => {
  const maxEntry = 64 * 1024;
  const makeLine = makeLineMaker({ utc: true, maxEntry });
  const out = new LineBuffer();
  const u32 = (n: number) => String.fromCharCode(n & 255, (n >> 8) & 255, (n >> 16) & 255, n >>> 24);
  const longStr = (s: string) => 'X' + u32(Buffer.byteLength(s, 'latin1')) + s;
  const cases = {
    // One str longer than the bound (the transcoders decline it; the writer must refuse it).
    'a long str': longStr('a'.repeat(maxEntry + 10)),
    // A str within the bound that its JSON escapes take past it (\u0001 is six characters).
    escapes: longStr('\x01'.repeat(maxEntry / 2)),
    // Bytes, as Python 3 sends them.
    bytes: 'B' + u32(maxEntry + 10) + 'b'.repeat(maxEntry + 10),
    // Two strs each within the bound, together past it.
    'two strs': ']q\x09(' + longStr('c'.repeat(maxEntry / 2 + 10)) + longStr('d'.repeat(maxEntry / 2 + 10)) + 'e',
  };
  for (const [label, extra] of Object.entries(cases)) {
    assert.throws(
      () => makeLine(recordAround(extra), out),
      (err: unknown) => err instanceof RefusedRecord && err.code === 'too-large',
      label,
    );
    assert.equal(out.length, 0, `${label}: a refused record leaves nothing in the output`);
  }
  // Just within the bound is written.
  makeLine(recordAround(longStr('a'.repeat(maxEntry - 300))), out);
  assert.ok(out.take().length <= maxEntry);
});
