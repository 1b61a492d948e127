/**
 * The three decoders must agree byte for byte: the transcoder and the fast decoder may decline a frame, but
 * whatever they do produce must equal what the general decoder (pickleparser behind the normalizer) gives —
 * the same line, or the same refusal. Checked on every fixture and on fuzzed mutations of real frames.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodePickle } from '../src/pickle/fallback';
import { decodeFast, DECLINED } from '../src/pickle/fast';
import { transcodeRecord } from '../src/pickle/transcode';
import { formatEntry } from '../src/entry';
import { makeHumanTime } from '../src/time';
import { RefusedRecord } from '../src/pickle/values';
import { LineBuffer } from '../src/line-buffer';

import { decoderCases as cases, refusedCases as refused } from './fixtures';
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
const fast = (b: Buffer) => {
  const v = decodeFast(b);
  return v === DECLINED ? null : outcome(() => formatEntry(v, human));
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

interface Tally {
  frames: number;
  fastTook: number;
  transcoderTook: number;
}

function compare(b: Buffer, label: string, tally: Tally): void {
  const want = general(b);
  assert.ok(!want.startsWith('threw'), `${label}: the general decoder threw instead of refusing: ${want}`);
  const f = fast(b);
  const t = transcoded(b);
  tally.frames++;
  if (f !== null) {
    tally.fastTook++;
    assert.equal(f, want, `${label}: fast decoder differs`);
  }
  if (t !== null) {
    tally.transcoderTook++;
    assert.equal(t, want, `${label}: transcoder differs`);
  }
}

/** A small deterministic PRNG (mulberry32), so a failure can be replayed. */
function rng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

test('all three decoders agree on every fixture', () => {
  const tally: Tally = { frames: 0, fastTook: 0, transcoderTook: 0 };
  for (const c of cases) compare(Buffer.from(c.pickle, 'base64'), `${c.name} p${c.protocol}`, tally);
  for (const c of refused) compare(Buffer.from(c.pickle, 'base64'), c.name, tally);
  console.log(`fixtures: ${JSON.stringify(tally)}`);
  // The fast paths must actually be exercised, not decline everything.
  assert.ok(tally.fastTook > tally.frames / 2, `fast decoder took only ${tally.fastTook} of ${tally.frames}`);
  assert.ok(tally.transcoderTook > 100, `transcoder took only ${tally.transcoderTook} of ${tally.frames}`);
});

test('all three decoders agree on fuzzed frames', () => {
  const random = rng(Number(process.env.FUZZ_SEED ?? 20261125));
  const seeds = cases.filter((c) => c.protocol >= 1).map((c) => Buffer.from(c.pickle, 'base64')).filter((b) => b.length < 20000);
  const tally: Tally = { frames: 0, fastTook: 0, transcoderTook: 0 };
  for (let i = 0; i < Number(process.env.FUZZ_ROUNDS ?? 20000); i++) {
    const base = seeds[Math.floor(random() * seeds.length)];
    const b = Buffer.from(base);
    const kind = Math.floor(random() * 5);
    let mutated: Buffer = b;
    if (kind === 0) {
      for (let k = 0; k < 1 + Math.floor(random() * 3); k++) b[Math.floor(random() * b.length)] ^= 1 << Math.floor(random() * 8);
    } else if (kind === 1) {
      mutated = b.subarray(0, Math.floor(random() * b.length));
    } else if (kind === 2) {
      b[Math.floor(random() * b.length)] = Math.floor(random() * 256);
    } else if (kind === 3) {
      const at = Math.floor(random() * b.length);
      const other = seeds[Math.floor(random() * seeds.length)];
      const from = Math.floor(random() * other.length);
      mutated = Buffer.concat([b.subarray(0, at), other.subarray(from, from + Math.floor(random() * 40)), b.subarray(at)]);
    } else {
      mutated = Buffer.from(Array.from({ length: Math.floor(random() * 200) }, () => Math.floor(random() * 256)));
    }
    compare(mutated, `fuzz #${i} (kind ${kind}) ${mutated.toString('base64').slice(0, 300)}`, tally);
  }
  console.log(`fuzz: ${JSON.stringify(tally)}`);
  assert.ok(tally.transcoderTook > 100, `transcoder took only ${tally.transcoderTook} fuzzed frames`);
});
