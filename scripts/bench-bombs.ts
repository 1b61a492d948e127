/**
 * What a small frame that expands through the pickle memo costs: `b = [b, b]` (and the same with tuples and
 * dicts) `--levels` times, 2**levels leaves in a few hundred bytes. For each build given (a dist/ directory;
 * default this checkout's), each kind is decoded in a child process of its own: CPU per frame and the peak RSS
 * the process reached, with the refusal it ended in.
 *
 *   node --import tsx scripts/bench-bombs.ts [--levels 60] [--frames 3] [DIST ...]
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { bomb } from './lib/hostile-frames';

const ROOT = join(__dirname, '..');

/** Runs in the child: decodes `frames` bombs of `kind` with the line maker of the build at `dist`. */
function child(dist: string, kind: string, levels: number, frames: number): void {
  const recordModule = existsSync(join(dist, 'decode', 'record.js')) ? join(dist, 'decode', 'record.js') : join(dist, 'record.js');
  const lineBufferModule = existsSync(join(dist, 'format', 'line-buffer.js'))
    ? join(dist, 'format', 'line-buffer.js')
    : join(dist, 'line-buffer.js');
  const { makeLineMaker } = require(recordModule) as typeof import('../src/decode/record');
  const { LineBuffer } = require(lineBufferModule) as typeof import('../src/format/line-buffer');
  const frame = bomb(kind as 'list' | 'tuple' | 'dict', levels);
  const make = makeLineMaker({ utc: true, maxEntry: 16 * 1024 * 1024 });
  const out = new LineBuffer();
  const rssBefore = process.memoryUsage().rss;
  const cpu = process.cpuUsage();
  let outcome = '';
  for (let i = 0; i < frames; i++) {
    try {
      make(frame, out);
      outcome = `line of ${out.take().length} bytes`;
    } catch (err) {
      outcome = `refused ${(err as { code?: string }).code}`;
    }
  }
  const used = process.cpuUsage(cpu);
  const ms = (used.user + used.system) / 1000 / frames;
  const peak = process.resourceUsage().maxRSS * 1024;
  process.stdout.write(JSON.stringify({ bytes: frame.length, ms, grewMiB: (peak - rssBefore) / 2 ** 20, outcome }) + '\n');
}

function main(): void {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      levels: { type: 'string', default: '60' },
      frames: { type: 'string', default: '3' },
      child: { type: 'string' },
      kind: { type: 'string' },
    },
  });
  const levels = Number(values.levels);
  const frames = Number(values.frames);
  if (values.child !== undefined) return child(values.child, values.kind ?? 'list', levels, frames);
  const dists = positionals.length > 0 ? positionals.map((d) => resolve(d)) : [join(ROOT, 'dist')];
  console.log(`| build | kind | frame bytes | CPU ms per frame | peak RSS growth MiB | outcome |\n|---|---|---:|---:|---:|---|`);
  for (const kind of ['list', 'tuple', 'dict']) {
    for (const dist of dists) {
      const r = JSON.parse(
        execFileSync(
          process.execPath,
          ['--import', 'tsx', __filename, '--child', dist, '--kind', kind, '--levels', String(levels), '--frames', String(frames)],
          {
            cwd: ROOT,
            encoding: 'utf8',
          },
        ),
      ) as { bytes: number; ms: number; grewMiB: number; outcome: string };
      console.log(
        `| ${dist.replace(ROOT + '/', '')} | ${kind} | ${r.bytes} | ${r.ms.toFixed(1)} | ${r.grewMiB.toFixed(0)} | ${r.outcome} |`,
      );
    }
  }
}

main();
