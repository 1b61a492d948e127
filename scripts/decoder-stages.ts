/**
 * Which stage of makeLineMaker's decoder chain (src/decode/record.ts) takes how many frames: a stage is kept only
 * if it takes a share that matters or correctness needs it. The chain: the transcoder (the C++ one when the addon
 * is built, else transcode.ts) writes the line or declines; then the general path (the fast decoder, else decodePickle +
 * formatEntry) writes it or refuses (RefusedRecord, by code). Counted for chain (a), C++ transcoder, and (b),
 * TypeScript transcoder, over the decoder fixtures, the refused fixtures, fuzzed fixtures (the mutations and seed
 * of test/differential.test.ts) and the benchmark corpus (bench/corpus.bin, else one made by make-corpus.py in
 * the temporary directory). The deployed chain's outcomes must equal makeLineMaker's on every frame.
 *
 *   node --import tsx scripts/decoder-stages.ts [--corpus FILE] [--rounds 20000] [--seed 20261125] [--time [--repeats 5]]
 *
 * --time: µs of CPU time per frame (median of --repeats interleaved runs of ≥ 200 ms) of the transcoder against
 * the pickleparser path on the frames the transcoder takes, and of its declining on the frames it leaves.
 */
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { execFileSync } from 'node:child_process';
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import { decodePickle } from '../src/decode/fallback';
import { decodeFast, DECLINED } from '../src/decode/fast';
import { transcodeRecord } from '../src/decode/transcode';
import { makeNativeTranscoder, nativeMissing, type Transcoder } from '../src/decode/native';
import { makeLineMaker } from '../src/decode/record';
import { formatEntry } from '../src/format/entry';
import { makeHumanTime } from '../src/format/time';
import { LineBuffer } from '../src/format/line-buffer';
import { RefusedRecord } from '../src/core/refusals';
import { DEFAULTS } from '../src/config/options';
import { fuzzedFrames } from '../test/fuzz-frames';
import { decoderCases, refusedCases } from '../test/fixtures';
import { loadCorpus } from './lib/corpus';

const started = performance.now();
const { values: args } = parseArgs({
  options: {
    corpus: { type: 'string' },
    rounds: { type: 'string', default: '20000' },
    seed: { type: 'string', default: '20261125' },
    time: { type: 'boolean', default: false },
    repeats: { type: 'string', default: '5' },
  },
});

// The server's defaults (--max-entry), created_human in UTC so that runs agree on any machine.
const UTC = true;
const MAX_ENTRY = DEFAULTS.maxEntry;
const humanTime = makeHumanTime(UTC);
const limits = { maxDepth: 100, maxChars: MAX_ENTRY };
const native = makeNativeTranscoder(UTC, MAX_ENTRY);
const typescript: Transcoder = (payload, out) => transcodeRecord(payload, out, humanTime, MAX_ENTRY);
const deployed = makeLineMaker({ utc: UTC, maxEntry: MAX_ENTRY });

type FrameSet = { name: string; frames: Buffer[] };

/** The fuzzed frames of test/differential.test.ts ('all three decoders agree on fuzzed frames'), in its order. */
function fuzzed(rounds: number, seed: number): FrameSet {
  const frames = [...fuzzedFrames(seed, rounds)].map((f) => f.frame);
  return { name: `fuzzed (seed ${seed})`, frames };
}

/** --corpus, else bench/corpus.bin, else one made by scripts/make-corpus.py (its defaults) in the temporary directory. */
function corpus(): { set: FrameSet; note: string } {
  const bench = resolve(__dirname, '..', 'bench', 'corpus.bin');
  const path = args.corpus ?? (existsSync(bench) ? bench : join(tmpdir(), 'log-server-decoder-stages-corpus.bin'));
  const made = path !== bench && args.corpus === undefined;
  if (made && !existsSync(path))
    execFileSync('python3', [join(__dirname, 'make-corpus.py'), '--out', path], { stdio: ['ignore', 'ignore', 'inherit'] });
  const c = loadCorpus(path);
  const frames = Array.from({ length: c.frames }, (_, i) => c.data.subarray(c.starts[i] + 4, c.starts[i + 1]));
  const note = made ? ' (bench/corpus.bin is missing; made by scripts/make-corpus.py)' : '';
  return { set: { name: 'corpus', frames }, note: `corpus: ${path}${note}` };
}

/** The line, or `refused CODE` for what makeLineMaker refuses (an error of the pickleparser path is a refusal). */
function outcome(line: () => string): string {
  try {
    return line();
  } catch (err) {
    const code = err instanceof RefusedRecord ? err.code : err instanceof RangeError ? 'too-large' : 'bad-pickle';
    return `refused ${code}`;
  }
}
/** The general path: the fast decoder (plain data into values), else pickleparser behind the normalizer. */
const pickleparser = (payload: Buffer): string =>
  outcome(() => {
    const fast = decodeFast(payload);
    return formatEntry(fast === DECLINED ? decodePickle(payload) : fast, humanTime, limits);
  });
const out = new LineBuffer();
const viaLineMaker = (payload: Buffer): string => outcome(() => (deployed(payload, out), out.take().toString('utf8')));

class Tally {
  /** Frames the transcoder took (it wrote the line) and declined (left to the pickleparser path). */
  took: Buffer[] = [];
  declined: Buffer[] = [];
  /** Lines the pickleparser path wrote, its refusals by code, and frames that differ from makeLineMaker's outcome. */
  lines = 0;
  /** Of the frames declined, those the fast decoder took (it made a value; the rest went to pickleparser). */
  fast = 0;
  codes = new Map<string, number>();
  differences = 0;
}

/** Whether the fast decoder takes the frame: it makes a value, or refuses it while it decodes (too-deep). */
function fastTakes(payload: Buffer): boolean {
  try {
    return decodeFast(payload) !== DECLINED;
  } catch {
    return true;
  }
}

/** One frame through transcoder → pickleparser path, as makeLineMaker runs it (a transcoder throw is a bug: it stops here). */
function run(transcode: Transcoder, payload: Buffer, t: Tally): string {
  if (transcode(payload, out)) {
    t.took.push(payload);
    return out.take().toString('utf8');
  }
  if (out.length !== 0) throw new Error(`a declining transcoder wrote ${out.length} bytes`);
  t.declined.push(payload);
  if (fastTakes(payload)) t.fast++;
  const result = pickleparser(payload);
  const code = result.startsWith('refused ') ? result.slice('refused '.length) : undefined;
  if (code === undefined) t.lines++;
  else t.codes.set(code, (t.codes.get(code) ?? 0) + 1);
  return result;
}

const pct = (n: number, of: number): string => `${n} (${of === 0 ? '0.0' : ((100 * n) / of).toFixed(1)}%)`;

function table(title: string, rows: [FrameSet, Tally][]): void {
  console.log(`\n### ${title}\n`);
  console.log('| set | frames | transcoder | general path: lines | of them or refused, via the fast decoder | refused | refused by code |');
  console.log('|---|---:|---:|---:|---:|---:|---|');
  for (const [set, t] of rows) {
    const byCount = [...t.codes].sort((x, y) => y[1] - x[1]);
    const codes = byCount.map(([c, n]) => `${c} ${n}`).join(', ') || '–';
    const n = t.took.length + t.declined.length;
    const refused = t.declined.length - t.lines;
    console.log(
      `| ${set.name} | ${n} | ${pct(t.took.length, n)} | ${pct(t.lines, n)} | ${pct(t.fast, n)} | ${pct(refused, n)} | ${codes} |`,
    );
  }
}

// ---- --time ----

let sink = 0;
const cpu = (u = process.cpuUsage()): number => u.user + u.system;

/**
 * µs of CPU time per frame of each [frames, each] pass: --repeats rounds (after a warm-up) in which every pass
 * runs over its frames until 200 ms, interleaved so that a slower spell of the machine hits all alike; the medians.
 */
function measure(...passes: [Buffer[], (frame: Buffer) => void][]): number[] {
  const runs: number[][] = passes.map(() => []);
  for (let r = -1; r < Math.max(1, Number(args.repeats)); r++) {
    passes.forEach(([frames, each], i) => {
      if (frames.length === 0) return void runs[i].push(NaN);
      let n = 0;
      const start = cpu();
      do (frames.forEach(each), n++);
      while (cpu() - start < (r < 0 ? 50_000 : 200_000));
      if (r >= 0) runs[i].push((cpu() - start) / (n * frames.length));
    });
  }
  return runs.map((s) => s.sort((x, y) => x - y)[s.length >> 1]);
}

const fmt = (us: number): string => (Number.isNaN(us) ? '–' : us >= 100 ? us.toFixed(0) : us >= 10 ? us.toFixed(1) : us.toFixed(2));

type Chain = { name: string; transcode: Transcoder; rows: [FrameSet, Tally][] };

function timing(chains: Chain[]): void {
  console.log('\n### CPU time, µs per frame: on the frames the transcoder takes, and on those it declines (what declining costs)\n');
  console.log('| chain | set | taken | transcoder | pickleparser path on them | ratio | declined | declining | pickleparser path |');
  console.log('|---|---|---:|---:|---:|---:|---:|---:|---:|');
  for (const { name, transcode, rows } of chains) {
    const transcoder = (f: Buffer): void => void (sink += transcode(f, out) ? out.take().length : 1);
    const pickle = (f: Buffer): void => void (sink += pickleparser(f).length);
    for (const [set, { took, declined }] of rows) {
      if (set.name === 'refused fixtures') continue; // not traffic
      const [tr, pp, declining, rest] = measure([took, transcoder], [took, pickle], [declined, transcoder], [declined, pickle]);
      const ratio = Number.isNaN(tr) ? '–' : `${(pp / tr).toFixed(1)}×`;
      const cells = [took.length, fmt(tr), fmt(pp), ratio, declined.length, fmt(declining), fmt(rest)];
      console.log(`| ${name} | ${set.name} | ${cells.join(' | ')} |`);
    }
  }
  if (sink === -1) console.log('');
}

function main(): void {
  const c = corpus();
  const sets: FrameSet[] = [
    { name: 'fixtures', frames: decoderCases.map((x) => Buffer.from(x.pickle, 'base64')) },
    { name: 'refused fixtures', frames: refusedCases.map((x) => Buffer.from(x.pickle, 'base64')) },
    fuzzed(Number(args.rounds), Number(args.seed)),
    c.set,
  ];
  // The first chain is the one makeLineMaker uses: the C++ transcoder when it is built, else the TypeScript one.
  const chains: Chain[] = [{ name: '(b) TypeScript', transcode: typescript, rows: [] }];
  if (native !== null) chains.unshift({ name: '(a) C++', transcode: native, rows: [] });
  for (const set of sets) {
    const tallies = chains.map(() => new Tally());
    for (const frame of set.frames) {
      chains.forEach((chain, i) => {
        const got = run(chain.transcode, frame, tallies[i]);
        if (i === 0 && viaLineMaker(frame) !== got) tallies[0].differences++;
      });
    }
    chains.forEach((chain, i) => chain.rows.push([set, tallies[i]]));
  }

  console.log("## Decoder stages: which stage of makeLineMaker's chain takes each frame\n");
  console.log(`utc ${UTC}, max-entry ${MAX_ENTRY}; fuzzed: ${args.rounds} frames, the mutations of test/differential.test.ts; ${c.note}`);
  if (native === null) console.log(`\n### (a) C++ transcoder: not available (${nativeMissing})`);
  for (const chain of chains) table(`${chain.name} transcoder → pickleparser path`, chain.rows);
  const diffs = chains[0].rows.map(([set, t]) => `${set.name} ${t.differences}`).join(', ');
  console.log(`\nChain ${chains[0].name} against makeLineMaker, frames that differ: ${diffs}.`);
  if (args.time) timing(chains);
  console.log(`\nRun time: ${((performance.now() - started) / 1000).toFixed(1)} s`);
}

main();
