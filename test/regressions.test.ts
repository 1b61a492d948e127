/**
 * Frames found in review that once crashed the server, changed other records, or made the decoders disagree;
 * and other holes review found, each with the test that shows it closed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { makeLineMaker } from '../src/decode/record';
import { LineBuffer } from '../src/format/line-buffer';
import { decodePickle } from '../src/decode/fallback';
import { decodeFast, DECLINED } from '../src/decode/fast';
import { transcodeRecord } from '../src/decode/transcode';
import { makeNativeTranscoder } from '../src/decode/native';
import { formatEntry } from '../src/format/entry';
import { makeHumanTime } from '../src/format/time';
import { FrameReader } from '../src/input/frames';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { Writer } from '../src/output/writer';
import { resolveOptions } from '../src/config/options';
import { makeRegistry } from '../src/ops/metrics';
import { float, str, u32 } from './pickle-ops';
import { RefusedRecord } from '../src/core/refusals';
import { newServerStats } from '../src/core/stats';

const make = makeLineMaker({ utc: true, maxEntry: 16 * 1024 * 1024 });

function lineOrRefusal(payload: Buffer): string {
  const out = new LineBuffer();
  try {
    make(payload, out);
    return out.take().toString('utf8');
  } catch (err) {
    assert.ok(err instanceof RefusedRecord, `threw ${(err as Error).stack}`);
    return `refused ${err.code}`;
  }
}

test('a memo bomb inside one APPENDS (1 MiB str referenced 3 million times) is refused, not a crash', () => {
  const payload = Buffer.concat([
    Buffer.from('\x80\x02}(', 'latin1'),
    str('created'),
    float(1.5),
    str('s'),
    str('A'.repeat(1 << 20)),
    Buffer.from('q\x00', 'latin1'),
    str('x'),
    Buffer.from('](', 'latin1'),
    Buffer.alloc(3_000_000 * 2, Buffer.from('h\x00', 'latin1')),
    Buffer.from('eu.', 'latin1'),
  ]);
  assert.equal(lineOrRefusal(payload), 'refused too-large');
});

test('a BUILD on a class does not change how later records name that class', () => {
  const thing = Buffer.from(
    '(dp0\nVcreated\np1\nF1.5\nsVthing\np2\nccopy_reg\n_reconstructor\n(cmyapp\nThing\nc__builtin__\nobject\nNtRs.',
    'latin1',
  );
  const before = lineOrRefusal(thing);
  assert.match(before, /"__class__":"myapp.Thing"/);
  const hostile = Buffer.concat([
    Buffer.from('cmyapp\nThing\n}(', 'latin1'),
    str('pyClassName'),
    str('hacked.Name'),
    Buffer.from('ub.', 'latin1'),
  ]);
  assert.match(lineOrRefusal(hostile), /^refused /);
  assert.equal(lineOrRefusal(thing), before);
});

test('MEMOIZE after a gap in the memo slots: all decoders give the same result', () => {
  // q5 sets one slot; MEMOIZE then stores at len(memo) = 1, so h6 reads a slot never set: a bad pickle.
  const payload = Buffer.concat([
    Buffer.from('\x80\x04}(', 'latin1'),
    str('created'),
    float(1.5),
    str('a'),
    str('foo'),
    Buffer.from('q\x05', 'latin1'),
    str('b'),
    str('bar'),
    Buffer.from('\x94', 'latin1'),
    str('c'),
    Buffer.from('h\x06u.', 'latin1'),
  ]);
  const human = makeHumanTime(true);
  let general: string;
  try {
    general = formatEntry(decodePickle(payload), human);
  } catch (err) {
    general = `refused ${(err as RefusedRecord).code}`;
  }
  assert.equal(general, 'refused bad-pickle');
  assert.equal(decodeFast(payload), DECLINED);
  assert.equal(transcodeRecord(payload, new LineBuffer(), human), false);
});

test('dict keys: a LONG1 int and a small int of the same value are the same key in every decoder', () => {
  const payload = Buffer.concat([
    Buffer.from('\x80\x02}(', 'latin1'),
    str('created'),
    float(1.5),
    str('d'),
    Buffer.from('}(K\x05K\x01\x8a\x01\x05K\x02u', 'latin1'),
    Buffer.from('u.', 'latin1'),
  ]);
  const human = makeHumanTime(true);
  const general = formatEntry(decodePickle(payload), human);
  const fast = decodeFast(payload);
  assert.notEqual(fast, DECLINED);
  assert.equal(formatEntry(fast, human), general);
  assert.match(general, /"d":\{"5":2\}/);
});

test('20,000 nested lists are refused as too-deep by the general path too (no stack overflow)', () => {
  const payload = Buffer.concat([
    Buffer.from('\x80\x02}(', 'latin1'),
    str('created'),
    float(1.5),
    str('x'),
    Buffer.alloc(20_000, ']'),
    Buffer.alloc(19_999, 'a'),
    Buffer.from('u.', 'latin1'),
  ]);
  assert.equal(lineOrRefusal(payload), 'refused too-deep');
  assert.throws(
    () => formatEntry(decodePickle(payload), makeHumanTime(true)),
    (e: unknown) => e instanceof RefusedRecord && e.code === 'too-deep',
  );
});

test('an int of 200,000 bytes (LONG4) is refused as too-large', () => {
  const n = 200_000;
  const payload = Buffer.concat([
    Buffer.from('\x80\x02}(', 'latin1'),
    str('created'),
    float(1.5),
    str('x'),
    Buffer.from([0x8b]),
    u32(n),
    Buffer.alloc(n, 0x11),
    Buffer.from('u.', 'latin1'),
  ]);
  assert.equal(lineOrRefusal(payload), 'refused too-large');
});

test('created outside the years 1-9999 is refused as bad-created', () => {
  for (const created of [1e300, -1e13, 253402300800]) {
    const payload = Buffer.concat([Buffer.from('\x80\x02}(', 'latin1'), str('created'), float(created), Buffer.from('u.', 'latin1')]);
    assert.equal(lineOrRefusal(payload), 'refused bad-created', `created ${created}`);
  }
});

test('a frame cut right after its length prefix is still "in a frame"', () => {
  const reader = new FrameReader(1000);
  reader.push(Buffer.from([0, 0, 0, 100]), () => assert.fail('no frame expected'));
  assert.equal(reader.pendingBytes, 0);
  assert.equal(reader.inFrame, true);
});

test('a flood of refused frames faster than the rejects file is written is bounded by --max-buffer, counted, and said', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'log-server-rejects-'));
  try {
    const warnings: string[] = [];
    const reporter = { info() {}, warn: (kind: string, line: string) => warnings.push(`${kind}: ${line}`) };
    const maxBuffer = 1024 * 1024;
    const o = resolveOptions({ target: join(dir, 'logs.jsonl'), rejects: join(dir, 'rejects.jsonl'), maxBuffer, reporter });
    const writer = await Writer.open(o, reporter, () => {});
    const frame = Buffer.alloc(48 * 1024, 0x41).toString('base64');
    const N = 400; // about 26 MB of reject lines, all at once: far more than the file takes in the meantime
    for (let i = 0; i < N; i++) writer.reject({ client: '127.0.0.1:1', reason: 'bad-pickle', detail: `#${i}`, frame });
    const dropped = writer.rejectsDropped;
    assert.ok(dropped > 0, 'nothing was dropped: the rejects file held the whole flood in memory');
    assert.ok(
      warnings.some((w) => w.startsWith('rejects-dropped:')),
      `no warning said so: ${warnings.join('\n')}`,
    );
    // And /metrics says so, as the server wires it (src/server/start.ts, src/cluster/pool.ts).
    const registry = makeRegistry({
      stats: newServerStats(),
      sink: writer.sink,
      openConnections: () => 0,
      rejectsDropped: () => writer.rejectsDropped,
    });
    assert.match(await registry.metrics(), new RegExp(`^log_server_rejects_dropped_total ${dropped}$`, 'm'));
    await writer.close();
    const kept = (await readFile(o.rejects!, 'utf8')).split('\n').filter(Boolean);
    assert.equal(kept.length + dropped, N, 'every refused frame is either kept or counted as dropped');
    // What was held in memory stayed near the bound: one line (~66 KB) past it at most.
    assert.ok(kept.length * 66_000 <= maxBuffer + 2 * 66_000, `${kept.length} lines kept from one burst`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('a small frame whose memo repeats one big str in every field is refused, not grown into a huge line', () => {
  // 263 KiB of pickle: a 256 KiB str memoized once, then 508 keys that all fetch it. Written out, the line would
  // be 133 MB; the transcoders (C++ and TypeScript) once built it in full, whatever --max-entry said.
  const big = 'z'.repeat(256 * 1024);
  const parts = [
    Buffer.from('\x80\x04}(', 'latin1'),
    str('created'),
    float(1764085440.5),
    str('msg'),
    str(big),
    Buffer.from('q\x00', 'latin1'),
  ];
  for (let i = 0; i < 508; i++) parts.push(str(`k${i}`), Buffer.from('h\x00', 'latin1'));
  parts.push(Buffer.from('u.', 'latin1'));
  const payload = Buffer.concat(parts);
  const human = makeHumanTime(true);
  const maxEntry = 16 * 1024 * 1024;
  const out = new LineBuffer();
  assert.equal(transcodeRecord(payload, out, human, maxEntry), false, 'the TypeScript transcoder declines');
  assert.equal(out.length, 0);
  const native = makeNativeTranscoder(true, maxEntry);
  assert.ok(native, 'the C++ transcoder is built');
  assert.equal(native(payload, out), false, 'the C++ transcoder declines');
  assert.equal(out.length, 0);
  assert.equal(lineOrRefusal(payload), 'refused too-large');
  // Under the limit the same shape is still written, by either transcoder.
  const small = Buffer.concat([
    Buffer.from('\x80\x04}(', 'latin1'),
    str('created'),
    float(1764085440.5),
    str('msg'),
    str('zz'),
    Buffer.from('q\x00', 'latin1'),
    str('k0'),
    Buffer.from('h\x00u.', 'latin1'),
  ]);
  assert.equal(native(small, out), true);
  assert.equal(transcodeRecord(small, out, human, maxEntry), true);
  const [a, b] = out.take().toString('utf8').trimEnd().split('\n');
  assert.equal(a, b);
  assert.match(a, /"msg":"zz","k0":"zz"\}$/);
});

test('records that each fill a long list under a new value id do not pile up memory in the TypeScript transcoder', () => {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  const human = makeHumanTime(true);
  const out = new LineBuffer();
  const head = Buffer.from('\x80\x04X\x01\x00\x00\x00vq\x00', 'latin1');
  const items = Buffer.from('('.concat('h\x00'.repeat(60000), 'e.'), 'latin1');
  gc();
  const before = process.memoryUsage().heapUsed;
  // k + 1 empty lists first, so that the 60,000 items go to value id k + 1: a new one each record.
  for (let k = 0; k < 1024; k++) assert.equal(transcodeRecord(Buffer.concat([head, Buffer.alloc(k + 1, ']'), items]), out, human), false);
  gc();
  const grew = (process.memoryUsage().heapUsed - before) / 2 ** 20;
  // Each list kept was 60,000 slots: 1024 of them held about 600 MiB.
  assert.ok(grew < 64, `the heap grew by ${grew.toFixed(0)} MiB`);
});
