/**
 * The benchmark: the same corpus against every system, round-robin, R repeats, medians.
 *
 *   npm run build && python3 scripts/make-corpus.py && npm run bench
 *   npm run bench -- [--count 600000] [--repeat 3] [--connections 4] [--workers-max N] [--json | --markdown]
 *
 * Systems: log-server single-process, with its C++ transcoder and with the TypeScript one (LOGSERVER_NATIVE=0);
 * log-server --multithreaded with 1, 2 and N workers (N = --workers-max,
 * default os.availableParallelism(); duplicates dropped); the Logging Cookbook receiver (python-receiver.py);
 * the raw sink (raw-sink.ts, no decoding: the I/O ceiling). Each run is one runLoadtest() (scripts/loadtest.ts)
 * that starts the system on port 0 with a fresh temporary target and stops it with SIGINT.
 *
 * Record counts differ per system so that each run lasts about as long (a few seconds): --count (default 600,000)
 * for log-server, half of it for its TypeScript transcoder, count × --python-share (default 0.08) for the Python
 * receiver, count × --raw-share (default 3) for the raw sink. Rates are per second, so they compare; see docs/benchmarks.md.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism, release, totalmem } from 'node:os';
import { parseArgs } from 'node:util';
import { runLoadtest, type LoadtestResult } from './loadtest';
import type { ServerKind } from './lib/proc';
import { fixed, int, markdownTable, MB, median, textTable } from './lib/stats';

interface System {
  name: string;
  kind: ServerKind;
  args: string[];
  count: number;
  env?: Record<string, string>;
}

interface RunSummary {
  repeat: number;
  ok: boolean;
  records: number;
  e2eRecordsPerSec: number | null;
  /** Input (frame) bytes per second, end-to-end. */
  e2eInMbPerSec: number | null;
  sendRecordsPerSec: number;
  exact: boolean;
  peakRssMiB: number | null;
  peakRssServerMiB: number | null;
  cpuSeconds: number | null;
  stopSeconds: number | null;
  /** CPU seconds used on the machine during the run by processes other than the server and this benchmark
   * (from /proc/stat): other people's work, i.e. noise. */
  otherCpuSeconds: number | null;
  wallSeconds: number;
  errors: string[];
}

interface SystemResult {
  name: string;
  kind: ServerKind;
  args: string[];
  count: number;
  runs: RunSummary[];
  medianRecordsPerSec: number;
  medianInMbPerSec: number;
  maxPeakRssMiB: number;
  cpuMicrosPerRecord: number;
  exactRuns: number;
  vsPython: number;
  vsRaw: number;
}

function machine() {
  let cpu = '?';
  try {
    cpu = /model name\s*:\s*(.*)/.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? '?';
  } catch {
    /* not Linux */
  }
  let python = '?';
  try {
    python = execFileSync('python3', ['--version'], { encoding: 'utf8' }).trim();
  } catch {
    /* none */
  }
  return { cpus: availableParallelism(), cpu, memGiB: Math.round(totalmem() / 2 ** 30), kernel: release(), node: process.version, python };
}

/** Busy CPU seconds of the whole machine so far (/proc/stat: everything but idle and iowait). */
function machineBusySeconds(): number | null {
  try {
    const f = readFileSync('/proc/stat', 'latin1').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
    const [user, nice, system, , , irq, softirq, steal] = f;
    return (user + nice + system + irq + softirq + (steal ?? 0)) / 100;
  } catch {
    return null;
  }
}

/** One run, with the CPU the rest of the machine used meanwhile. */
async function measuredRun(o: Parameters<typeof runLoadtest>[0], repeat: number): Promise<RunSummary> {
  const busy0 = machineBusySeconds();
  const own0 = process.cpuUsage();
  const t0 = performance.now();
  const r = await runLoadtest(o);
  const wall = (performance.now() - t0) / 1000;
  const busy1 = machineBusySeconds();
  const own = process.cpuUsage(own0);
  const sum = summarize(r, repeat);
  sum.wallSeconds = wall;
  if (busy0 !== null && busy1 !== null) {
    sum.otherCpuSeconds = Math.max(0, busy1 - busy0 - (own.user + own.system) / 1e6 - (r.serverCpuSeconds ?? 0));
  }
  return sum;
}

function summarize(r: LoadtestResult, repeat: number): RunSummary {
  const secs = r.written.seconds;
  return {
    otherCpuSeconds: null,
    wallSeconds: NaN,
    repeat,
    ok: r.ok,
    records: r.sent.records,
    e2eRecordsPerSec: r.written.complete ? r.written.recordsPerSec : null,
    e2eInMbPerSec: r.written.complete && secs ? r.sent.bytes / MB / secs : null,
    sendRecordsPerSec: r.sent.recordsPerSec,
    exact: r.final.exact,
    peakRssMiB: r.peakRssMiB?.total ?? null,
    peakRssServerMiB: r.peakRssMiB?.server ?? null,
    cpuSeconds: r.serverCpuSeconds,
    stopSeconds: r.stop?.seconds ?? null,
    errors: r.errors,
  };
}

const USAGE = `usage: npm run bench -- [options]

  --count N          records per log-server run (default 600000)
  --python-share F   the Python receiver gets count × F records (default 0.08: it is slower)
  --raw-share F      the raw sink gets count × F records (default 3: it is faster)
  --repeat R         rounds; systems alternate round-robin within each (default 3)
  --connections C    TCP connections per run (default 4)
  --workers-max N    largest --workers tried (default os.availableParallelism())
  --systems LIST     only these, comma-separated: single, single-ts, mt1, mt2, mtN, python, raw
  --corpus FILE      default bench/corpus.bin
  --timeout S        per-run timeout (default 120)
  --budget S         stop starting runs after S seconds in all (default 600)
  --json             JSON on stdout
  --save FILE        also write the JSON to FILE
  --markdown         a markdown table (for docs/benchmarks.md) on stdout`;

async function main(argv: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      options: {
        count: { type: 'string' },
        'python-share': { type: 'string' },
        'raw-share': { type: 'string' },
        repeat: { type: 'string' },
        connections: { type: 'string' },
        'workers-max': { type: 'string' },
        systems: { type: 'string' },
        corpus: { type: 'string' },
        timeout: { type: 'string' },
        budget: { type: 'string' },
        json: { type: 'boolean' },
        save: { type: 'string' },
        markdown: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (err) {
    process.stderr.write(`bench: ${(err as Error).message}\n\n${USAGE}\n`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(USAGE + '\n');
    return 0;
  }
  const num = (name: string, v: string | undefined, dflt: number, min: number, integer = true): number => {
    if (v === undefined) return dflt;
    const n = Number(v);
    if (!Number.isFinite(n) || n < min || (integer && !Number.isInteger(n))) {
      process.stderr.write(`bench: --${name} must be ${integer ? 'an integer' : 'a number'} ≥ ${min}, not ${v}\n`);
      process.exit(2);
    }
    return n;
  };
  const count = num('count', values.count, 600_000, 1);
  const pythonShare = num('python-share', values['python-share'], 0.08, 0.001, false);
  const rawShare = num('raw-share', values['raw-share'], 3, 0.001, false);
  const repeat = num('repeat', values.repeat, 3, 1);
  const connections = num('connections', values.connections, 4, 1);
  const workersMax = num('workers-max', values['workers-max'], availableParallelism(), 1);
  const timeoutSec = num('timeout', values.timeout, 120, 1, false);
  const budgetSec = num('budget', values.budget, 600, 1, false);
  const corpus = values.corpus ?? 'bench/corpus.bin';

  const all: (System & { key: string })[] = [
    { key: 'single', name: 'log-server single-process', kind: 'log-server', args: [], count },
    // The same server with the C++ transcoder turned off: the before/after of the native code, side by side.
    {
      key: 'single-ts',
      name: 'log-server single-process, TypeScript transcoder',
      kind: 'log-server',
      args: [],
      count: Math.max(1, Math.round(count / 2)),
      env: { LOGSERVER_NATIVE: '0' },
    },
  ];
  const workerCounts = [...new Set([1, 2, workersMax])].sort((a, b) => a - b);
  for (const w of workerCounts) {
    const key = w === workersMax && w !== 1 && w !== 2 ? 'mtN' : `mt${w}`;
    all.push({
      key,
      name: `log-server --multithreaded --workers ${w}`,
      kind: 'log-server',
      args: ['--multithreaded', '--workers', String(w)],
      count,
    });
  }
  if (workersMax === 1 || workersMax === 2) for (const s of all) if (s.key === `mt${workersMax}`) s.name += ` (= N)`;
  all.push({
    key: 'python',
    name: 'python-receiver.py (Logging Cookbook)',
    kind: 'python-receiver',
    args: [],
    count: Math.max(1, Math.round(count * pythonShare)),
  });
  all.push({ key: 'raw', name: 'raw-sink.ts (I/O ceiling)', kind: 'raw-sink', args: [], count: Math.max(1, Math.round(count * rawShare)) });
  let systems = all;
  if (values.systems) {
    const want = new Set(values.systems.split(',').map((s) => s.trim()));
    systems = all.filter((s) => want.has(s.key) || (s.key.startsWith('mt') && want.has('mtN') && s.args.includes(String(workersMax))));
    if (systems.length === 0) {
      process.stderr.write(`bench: --systems matched nothing (use single, single-ts, mt1, mt2, mtN, python, raw)\n`);
      return 2;
    }
  }

  const m = machine();
  process.stderr.write(
    `bench: ${m.cpus} CPUs (${m.cpu}), ${m.node}, ${m.python}; ${repeat} rounds × ${systems.length} systems, ${connections} connections\n`,
  );
  const started = performance.now();
  const runs = new Map<string, RunSummary[]>(systems.map((s) => [s.name, []]));
  let skipped = 0;
  for (let r = 1; r <= repeat; r++) {
    for (const s of systems) {
      if ((performance.now() - started) / 1000 > budgetSec) {
        skipped++;
        continue;
      }
      const sum = await measuredRun(
        { corpus, server: s.kind, serverArgs: s.args, serverEnv: s.env, connections, count: s.count, timeoutSec, label: s.name },
        r,
      );
      runs.get(s.name)!.push(sum);
      process.stderr.write(
        `bench: round ${r}/${repeat} ${s.name}: ${int(sum.records)} records, ${int(sum.e2eRecordsPerSec)} records/s end-to-end, ` +
          `exact ${sum.exact ? 'yes' : 'NO'}, peak RSS ${fixed(sum.peakRssMiB)} MiB, ` +
          `other processes ${fixed(sum.otherCpuSeconds, 2)} CPU s in ${fixed(sum.wallSeconds, 1)} s${sum.errors.length ? ' — ' + sum.errors.join('; ') : ''}\n`,
      );
    }
  }
  if (skipped) process.stderr.write(`bench: budget of ${budgetSec} s used up: ${skipped} runs skipped\n`);

  const results: SystemResult[] = systems.map((s) => {
    const rs = runs.get(s.name)!;
    const cpu = rs.filter((x) => x.cpuSeconds !== null);
    return {
      name: s.name,
      kind: s.kind,
      args: s.args,
      count: s.count,
      runs: rs,
      medianRecordsPerSec: median(rs.map((x) => x.e2eRecordsPerSec ?? NaN)),
      medianInMbPerSec: median(rs.map((x) => x.e2eInMbPerSec ?? NaN)),
      maxPeakRssMiB: Math.max(...rs.map((x) => x.peakRssMiB ?? NaN).filter(Number.isFinite)),
      cpuMicrosPerRecord: cpu.length ? median(cpu.map((x) => (x.cpuSeconds! / x.records) * 1e6)) : NaN,
      exactRuns: rs.filter((x) => x.exact).length,
      vsPython: NaN,
      vsRaw: NaN,
    };
  });
  const py = results.find((x) => x.kind === 'python-receiver')?.medianRecordsPerSec ?? NaN;
  const raw = results.find((x) => x.kind === 'raw-sink')?.medianRecordsPerSec ?? NaN;
  for (const x of results) {
    x.vsPython = x.medianRecordsPerSec / py;
    x.vsRaw = x.medianRecordsPerSec / raw;
  }
  const totalSec = (performance.now() - started) / 1000;
  const allRuns = results.flatMap((x) => x.runs);
  const otherCpu = allRuns.reduce((a, x) => a + (x.otherCpuSeconds ?? 0), 0);
  const wallAll = allRuns.reduce((a, x) => a + x.wallSeconds, 0);

  const json =
    JSON.stringify(
      {
        machine: m,
        otherCpuSeconds: otherCpu,
        config: { count, pythonShare, rawShare, repeat, connections, workersMax, corpus },
        seconds: totalSec,
        systems: results,
      },
      null,
      2,
    ) + '\n';
  if (values.save) writeFileSync(values.save, json);
  if (values.json) {
    process.stdout.write(json);
  } else {
    const header = [
      'system',
      'records/run',
      'records/s (median)',
      'each round',
      'MB/s in',
      'peak RSS MiB',
      'CPU µs/record',
      'exact',
      '× python',
      '× raw sink',
    ];
    const rows = [header];
    for (const x of results) {
      rows.push([
        x.name,
        int(x.count),
        int(x.medianRecordsPerSec),
        x.runs.map((y) => (y.e2eRecordsPerSec === null ? 'fail' : int(y.e2eRecordsPerSec))).join(' / '),
        fixed(x.medianInMbPerSec),
        fixed(x.maxPeakRssMiB),
        fixed(x.cpuMicrosPerRecord),
        x.exactRuns === x.runs.length && x.runs.length > 0 ? 'yes' : `NO (${x.exactRuns}/${x.runs.length})`,
        fixed(x.vsPython, 2),
        fixed(x.vsRaw, 2),
      ]);
    }
    const note =
      `${m.cpus} CPUs (${m.cpu}), ${m.memGiB} GiB, Linux ${m.kernel}, Node ${m.node}, ${m.python}; ` +
      `${repeat} rounds, ${connections} connections, corpus ${corpus}; bench took ${fixed(totalSec, 0)} s; ` +
      `other processes used ${fixed(otherCpu, 1)} CPU s during the ${fixed(wallAll, 0)} s of runs (${fixed((100 * otherCpu) / (wallAll * m.cpus), 1)}% of the machine)`;
    if (values.markdown) process.stdout.write(`${markdownTable(rows, 1)}\n\n${note}\n`);
    else process.stdout.write(`${textTable(rows, 1)}\n\n${note}\n`);
  }
  const allOk = results.every((x) => x.runs.length === repeat && x.runs.every((y) => y.ok));
  return allOk ? 0 : 1;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`bench: ${(err as Error)?.stack ?? String(err)}\n`);
    process.exitCode = 1;
  },
);
