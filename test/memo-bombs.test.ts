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
  // expansion: 9 bombs of 2**60 leaves stay within 6x the 16 MiB entry limit in all.
  assert.ok(peak - before < 6 * DEFAULTS.maxEntry, `the process grew by ${Math.round((peak - before) / MiB)} MiB`);
});
