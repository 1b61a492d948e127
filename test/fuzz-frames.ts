/**
 * One PRNG and one source of fuzzed frames for the tests and scripts that hold the decoders to one contract
 * (test/differential.test.ts, scripts/decoder-stages.ts) and that send hostile frames (scripts/lib/hostile-frames.ts).
 */
import { decoderCases } from './fixtures';

/** A small deterministic PRNG (mulberry32), so a failure can be replayed from its seed. */
export function rng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * `rounds` mutations of the decoder fixtures (protocol 1 and up, under 20,000 bytes), from `seed`: bits flipped,
 * cut short, a byte replaced, bytes of another fixture spliced in, or plain random bytes (`kind` 0–4).
 */
export function* fuzzedFrames(seed: number, rounds: number): Generator<{ frame: Buffer; kind: number }> {
  const random = rng(seed);
  const seeds = decoderCases
    .filter((c) => c.protocol >= 1)
    .map((c) => Buffer.from(c.pickle, 'base64'))
    .filter((b) => b.length < 20000);
  for (let i = 0; i < rounds; i++) {
    const b = Buffer.from(seeds[Math.floor(random() * seeds.length)]);
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
    yield { frame: mutated, kind };
  }
}
