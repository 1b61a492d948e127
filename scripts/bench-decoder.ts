/**
 * The decoder alone, before/after in one process: CPU time per record of the line maker (payload → JSON line)
 * of one or more builds, on the corpus frames, passes alternating between the builds.
 *
 *   npm run build && npm run bench:decoder -- [--rounds 15] [--corpus bench/corpus.bin] [REV | DIST ...]
 *
 * Each argument is a git revision (built once under bench/builds/<rev>, as compare-builds.ts does) or a
 * compiled `dist/` directory; without arguments, this checkout's dist/. Builds are loaded side by side (each from its own path), so
 * they share the process, the machine's noise and the corpus; the minimum and median of the rounds are printed.
 * CPU time (process.cpuUsage), not wall time: other work on the machine shows less in it.
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { loadCorpus } from './lib/corpus';
import { build, buildDist } from './lib/builds';

interface Build {
  dist: string;
  make: (payload: Buffer, out: unknown) => void;
  out: { length: number; take(): Buffer };
  samples: number[];
}

function load(dist: string): Build {
  const { makeLineMaker } = require(resolve(dist, 'record.js'));
  const maker = makeLineMaker({ utc: false, maxEntry: 16 * 1024 * 1024 });
  if (existsSync(resolve(dist, 'line-buffer.js'))) {
    const { LineBuffer } = require(resolve(dist, 'line-buffer.js'));
    return { dist, make: maker, out: new LineBuffer(), samples: [] };
  }
  // Early builds made each line as a string: it is encoded here, as their writer did.
  const out = { bytes: Buffer.allocUnsafe(1024 * 1024), length: 0, take: () => out.bytes.subarray(0, (out.length = 0)) };
  const make = (payload: Buffer) => {
    out.length += out.bytes.write(maker(payload) + '\n', out.length);
  };
  return { dist, make, out, samples: [] };
}

function main(): void {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: { rounds: { type: 'string', default: '15' }, corpus: { type: 'string', default: 'bench/corpus.bin' } },
  });
  const corpus = loadCorpus(resolve(values.corpus));
  const frames: Buffer[] = [];
  for (let i = 0; i < corpus.frames; i++) frames.push(corpus.data.subarray(corpus.starts[i] + 4, corpus.starts[i + 1]));
  const builds = (positionals.length > 0 ? positionals : ['dist']).map((a) =>
    load(existsSync(resolve(a, 'record.js')) ? a : buildDist(build(a))),
  );
  const pass = (b: Build) => {
    for (const f of frames) {
      b.make(f, b.out);
      if (b.out.length > 512 * 1024) b.out.take();
    }
    b.out.take();
  };
  for (const b of builds) for (let i = 0; i < 3; i++) pass(b); // warm up
  for (let r = 0; r < Number(values.rounds); r++) {
    for (const b of builds) {
      const before = process.cpuUsage();
      pass(b);
      const used = process.cpuUsage(before);
      b.samples.push(((used.user + used.system) * 1000) / frames.length);
    }
  }
  console.log(`${frames.length} frames of ${corpus.path}, ${values.rounds} rounds; CPU ns per record`);
  console.log('| build | min | median | × first |');
  console.log('|:---|---:|---:|---:|');
  const medianOf = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const first = medianOf(builds[0].samples);
  for (const b of builds) {
    const m = medianOf(b.samples);
    console.log(`| ${b.dist} | ${Math.round(Math.min(...b.samples))} | ${Math.round(m)} | ${(first / m).toFixed(2)} |`);
  }
}

main();
