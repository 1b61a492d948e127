/**
 * The decoders must agree byte for byte: the two transcoders (C++ and TypeScript) and the fast decoder may
 * decline a frame, but whatever they do produce must equal what the general decoder (pickleparser behind the
 * normalizer) gives — the same line, or the same refusal. Checked on every fixture and on fuzzed mutations of
 * real frames.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { decodePickle } from '../src/decode/fallback';
import { decodeFast, DECLINED } from '../src/decode/fast';
import { transcodeRecord } from '../src/decode/transcode';
import { makeNativeTranscoder } from '../src/decode/native';
import { formatEntry } from '../src/format/entry';
import { makeHumanTime } from '../src/format/time';
import { LineBuffer } from '../src/format/line-buffer';
import { float, str } from './pickle-ops';
import { fuzzedFrames, rng } from './fuzz-frames';

import { decoderCases as cases, refusedCases as refused } from './fixtures';
import { RefusedRecord } from '../src/core/refusals';
const human = makeHumanTime(true);

function outcome(f: () => string): string {
  try {
    return f();
  } catch (err) {
    if (err instanceof RefusedRecord) return `refused ${err.code}`;
    return `threw ${(err as Error).message}`;
  }
}

const general = (b: Buffer) => outcome(() => formatEntry(decodePickle(b), human));
// The fast decoder may refuse while it decodes (too-deep), as well as through the writer.
const fast = (b: Buffer) => {
  let declined = false;
  const result = outcome(() => {
    const v = decodeFast(b);
    declined = v === DECLINED;
    return declined ? '' : formatEntry(v, human);
  });
  return declined ? null : result;
};
const out = new LineBuffer();
const transcoded = (b: Buffer) => {
  const ok = transcodeRecord(b, out, human);
  const line = out.take().toString('utf8');
  if (!ok) {
    assert.equal(line, '', 'a declining transcoder must write nothing');
    return null;
  }
  return line;
};

const native = makeNativeTranscoder(true, 8 * 1024 * 1024);
const nativeOut = new LineBuffer();
const nativeTranscoded = (b: Buffer) => {
  assert.ok(native, 'the C++ transcoder is not built (npm install runs node-gyp; see the README)');
  const ok = native(b, nativeOut);
  const line = nativeOut.take().toString('utf8');
  if (!ok) {
    assert.equal(line, '', 'a declining transcoder must write nothing');
    return null;
  }
  return line;
};

interface Tally {
  frames: number;
  fastTook: number;
  transcoderTook: number;
  nativeTook: number;
}

function compare(b: Buffer, label: string, tally: Tally): void {
  const want = general(b);
  assert.ok(!want.startsWith('threw'), `${label}: the general decoder threw instead of refusing: ${want}`);
  const f = fast(b);
  const t = transcoded(b);
  const c = nativeTranscoded(b);
  tally.frames++;
  if (f !== null) {
    tally.fastTook++;
    assert.equal(f, want, `${label}: fast decoder differs`);
  }
  if (t !== null) {
    tally.transcoderTook++;
    assert.equal(t, want, `${label}: transcoder differs`);
  }
  if (c !== null) {
    tally.nativeTook++;
    assert.equal(c, want, `${label}: C++ transcoder differs`);
  }
}

test('all three decoders agree on every fixture', () => {
  const tally: Tally = { frames: 0, fastTook: 0, transcoderTook: 0, nativeTook: 0 };
  for (const c of cases) compare(Buffer.from(c.pickle, 'base64'), `${c.name} p${c.protocol}`, tally);
  for (const c of refused) compare(Buffer.from(c.pickle, 'base64'), c.name, tally);
  console.log(`fixtures: ${JSON.stringify(tally)}`);
  // The fast paths must actually be exercised, not decline everything.
  assert.ok(tally.fastTook > tally.frames / 2, `fast decoder took only ${tally.fastTook} of ${tally.frames}`);
  assert.ok(tally.transcoderTook > 100, `transcoder took only ${tally.transcoderTook} of ${tally.frames}`);
  assert.ok(tally.nativeTook > 100, `C++ transcoder took only ${tally.nativeTook} of ${tally.frames}`);
});

test('all three decoders agree on fuzzed frames', () => {
  const tally: Tally = { frames: 0, fastTook: 0, transcoderTook: 0, nativeTook: 0 };
  let i = 0;
  for (const { frame: mutated, kind } of fuzzedFrames(
    Number(process.env.FUZZ_SEED ?? 20261125),
    Number(process.env.FUZZ_ROUNDS ?? 20000),
  )) {
    compare(mutated, `fuzz #${i++} (kind ${kind}) ${mutated.toString('base64').slice(0, 300)}`, tally);
  }
  console.log(`fuzz: ${JSON.stringify(tally)}`);
  assert.ok(tally.transcoderTook > 100, `transcoder took only ${tally.transcoderTook} fuzzed frames`);
  assert.ok(tally.nativeTook > 100, `C++ transcoder took only ${tally.nativeTook} fuzzed frames`);
});

/** A protocol-2 record whose extras f0, f1, … are the given floats (BINFLOAT), as pickle would write them. */
function floatRecord(floats: number[]): Buffer {
  const parts = [Buffer.from([0x80, 0x02, 0x7d, 0x28]), str('created'), float(1764085440.125)];
  floats.forEach((x, i) => parts.push(str(`f${i}`), float(x)));
  parts.push(Buffer.from([0x75, 0x2e]));
  return Buffer.concat(parts);
}

test('the C++ transcoder writes every float as the general path does, and a sample as Python itself does (repr, via the reference)', () => {
  const random = rng(Number(process.env.FUZZ_SEED ?? 20261125));
  const bits = new DataView(new ArrayBuffer(8));
  const samples: number[] = [
    0,
    -0,
    NaN,
    Infinity,
    -Infinity,
    1e16,
    1e-4,
    9999999999999998,
    0.00009999999999999999,
    5e-324,
    1.7976931348623157e308,
    1e22,
    1e21,
    123456789012345680000,
  ];
  for (let i = 0; i < 30000; i++) {
    bits.setUint32(0, Math.floor(random() * 2 ** 32));
    bits.setUint32(4, Math.floor(random() * 2 ** 32));
    samples.push(bits.getFloat64(0)); // any bit pattern: subnormals, NaNs, huge and tiny
    samples.push(Math.floor(random() * 2 ** 53) / 10 ** Math.floor(random() * 22)); // decimal-looking
    samples.push(1764085440 + random() * 1000); // timestamps
    samples.push((random() - 0.5) * 10 ** Math.floor(random() * 40 - 20)); // around the notation switches
  }
  let compared = 0;
  const forPython: { pickle: Buffer; line: string; floats: number[] }[] = [];
  for (let i = 0; i < samples.length; i += 8) {
    const b = floatRecord(samples.slice(i, i + 8));
    const line = nativeTranscoded(b);
    assert.notEqual(line, null, `declined floats ${samples.slice(i, i + 8).join(', ')}`);
    assert.equal(line, general(b), `floats ${samples.slice(i, i + 8).join(', ')}`);
    compared += 8;
    // The hand-picked ones and every 8th batch also go to Python: an oracle that is not this project's code.
    if (i < 16 || (i / 8) % 8 === 0) forPython.push({ pickle: b, line: line!, floats: samples.slice(i, i + 8) });
  }
  const py = spawnSync('python3', ['-c', PYTHON_LINES], {
    input: forPython.map((x) => x.pickle.toString('base64')).join('\n') + '\n',
    encoding: 'utf8',
    maxBuffer: 256 * 1024 * 1024,
  });
  assert.equal(py.status, 0, `python3 exited ${py.status ?? py.signal}: ${py.stderr}`);
  const lines = py.stdout.split('\n').slice(0, -1);
  assert.equal(lines.length, forPython.length);
  forPython.forEach((x, k) => assert.equal(x.line, `${lines[k]}\n`, `floats ${x.floats.join(', ')}: not as Python writes them`));
  assert.ok(forPython.length > 1000, `${forPython.length} records checked against Python`);
  console.log(`floats compared: ${compared}, of them against Python: ${forPython.length * 8}`);
});

/** Reads base64 pickles, one a line, and prints the line scripts/reference_line.py makes of each (utc=True). */
const PYTHON_LINES = `
import base64, sys
sys.dont_write_bytecode = True
sys.path.insert(0, ${JSON.stringify(join(__dirname, '..', 'scripts'))})
import reference_line as ref
for b64 in sys.stdin.read().split():
    sys.stdout.write(ref.line_from_pickle(base64.b64decode(b64), utc=True) + "\\n")
`;
