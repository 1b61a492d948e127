/**
 * Before/after: builds log-server at several git revisions and measures them side by side, in one run,
 * alternating round-robin on the same corpus, like bench.ts does for the systems.
 *
 *   node --import tsx scripts/compare-builds.ts [--repeat 3] [--count 200000 | --duration S] [--server-args="..."] REV [REV ...]
 *
 * (--server-args takes its value after "=", as it starts with a dash: --server-args="--multithreaded --workers 2".)
 *
 * It prints, per build, the median rate, the CPU per record of all its processes, and the peak RSS of its
 * largest process (with --duration, a soak: whether memory stays flat at full speed).
 *
 * Each revision is checked out with `git worktree add --detach` under bench/builds/<rev>, compiled with the
 * project's own TypeScript and node_modules, and started from there (BENCH_LOG_SERVER_DIST).
 */
import { execFileSync } from 'node:child_process';
import { parseArgs } from 'node:util';
import { runLoadtest } from './loadtest';
import { build, buildDist, ROOT } from './lib/builds';

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      repeat: { type: 'string', default: '3' },
      count: { type: 'string', default: '200000' },
      duration: { type: 'string' },
      'server-args': { type: 'string', default: '' },
    },
  });
  if (positionals.length === 0) throw new Error('name at least one git revision');
  const revs = positionals.map(build);
  const runs = new Map<string, { rate: number; cpu: number; rss: number; exact: boolean }[]>(revs.map((r) => [r, []]));
  const duration = values.duration === undefined ? undefined : Number(values.duration);
  for (let round = 0; round < Number(values.repeat); round++) {
    for (const rev of revs) {
      process.env.BENCH_LOG_SERVER_DIST = buildDist(rev);
      const r = await runLoadtest({
        count: Number(values.count),
        duration,
        serverArgs: values['server-args'].split(' ').filter(Boolean),
        progress: false,
      });
      const rate = r.written.recordsPerSec ?? 0;
      const cpu = ((r.serverCpuSeconds ?? NaN) / r.sent.records) * 1e6;
      // The largest process: the bound is per process.
      const rss = Math.max(...(r.procs ?? []).filter((p) => p.role !== 'tooling').map((p) => p.peakRssKiB / 1024));
      runs.get(rev)!.push({ rate, cpu, rss, exact: r.final.exact });
      process.stderr.write(
        `round ${round + 1} ${rev}: ${Math.round(rate)} records/s, ${r.procs?.map((p) => `${p.role} ${(p.peakRssKiB / 1024).toFixed(1)}`).join(', ')} MiB\n`,
      );
    }
  }
  const base = median(runs.get(revs[0])!.map((x) => x.rate));
  console.log(`| build | median records/s | rounds | CPU µs/record | peak RSS MiB, largest process (rounds) | exact | × ${revs[0]} |`);
  console.log('|:---|---:|:---|---:|:---|:---:|---:|');
  for (const rev of revs) {
    const xs = runs.get(rev)!;
    const m = median(xs.map((x) => x.rate));
    const subject = execFileSync('git', ['log', '-1', '--format=%s', rev], { cwd: ROOT }).toString().trim().slice(0, 60);
    console.log(
      `| \`${rev}\` ${subject} | ${Math.round(m).toLocaleString('en')} | ${xs.map((x) => Math.round(x.rate / 1000) + 'k').join(' ')} | ${median(xs.map((x) => x.cpu)).toFixed(1)} | ${xs.map((x) => x.rss.toFixed(1)).join(' ')} | ${xs.every((x) => x.exact) ? 'yes' : 'NO'} | ${(m / base).toFixed(2)} |`,
    );
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`compare-builds: ${(err as Error).message}\n`);
  process.exitCode = 1;
});
