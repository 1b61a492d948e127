/**
 * Starting the system under test as a child process, watching its memory and CPU through /proc, stopping it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

export type ServerKind = 'log-server' | 'python-receiver' | 'raw-sink';
export const SERVER_KINDS: readonly ServerKind[] = ['log-server', 'python-receiver', 'raw-sink'];

const ROOT = resolve(__dirname, '..', '..');

export interface StartOptions {
  kind: ServerKind;
  host: string;
  target: string;
  /** Extra arguments, e.g. ['--multithreaded', '--workers', '2'] for log-server. */
  args: string[];
  /** Give up waiting for the "listening on" line after this many ms. */
  startTimeoutMs: number;
  /** Environment variables added to this process's for the server, e.g. { LOGSERVER_NATIVE: '0' }. */
  env?: Record<string, string>;
}

export interface StartedServer {
  kind: ServerKind;
  command: string[];
  child: ChildProcess;
  pid: number;
  host: string;
  port: number;
  /** Everything the server printed on stderr so far (bounded). */
  stderr: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export function serverCommand(kind: ServerKind, host: string, target: string, args: string[]): string[] {
  switch (kind) {
    case 'log-server':
      // BENCH_LOG_SERVER_DIST: another build of log-server (scripts/compare-builds.ts measures several side by side).
      return [
        process.execPath,
        join(process.env.BENCH_LOG_SERVER_DIST ?? join(ROOT, 'dist'), 'cli.js'),
        '--host',
        host,
        '--port',
        '0',
        '--target',
        target,
        ...args,
      ];
    case 'python-receiver':
      return ['python3', join(ROOT, 'scripts', 'python-receiver.py'), '--host', host, '--port', '0', '--target', target, ...args];
    case 'raw-sink':
      return [
        process.execPath,
        '--import',
        'tsx',
        join(ROOT, 'scripts', 'raw-sink.ts'),
        '--host',
        host,
        '--port',
        '0',
        '--target',
        target,
        ...args,
      ];
  }
}

const MAX_STDERR = 64 * 1024;

/** Spawns the server (in its own process group) and resolves once it printed "listening on HOST:PORT". */
export function startServer(o: StartOptions): Promise<StartedServer> {
  const command = serverCommand(o.kind, o.host, o.target, o.args);
  const env = o.env ? { ...process.env, ...o.env } : process.env;
  const child = spawn(command[0], command.slice(1), { cwd: ROOT, env, stdio: ['ignore', 'ignore', 'pipe'], detached: true });
  let err = '';
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((res) =>
    child.once('exit', (code, signal) => res({ code, signal })),
  );
  return new Promise((res, rej) => {
    let done = false;
    const fail = (why: string) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      killGroup(child, 'SIGKILL');
      rej(new Error(`${o.kind} did not start: ${why}\n  command: ${command.join(' ')}\n  stderr: ${err.trim() || '(empty)'}`));
    };
    const timer = setTimeout(() => fail(`no "listening on" line within ${o.startTimeoutMs} ms`), o.startTimeoutMs);
    child.once('error', (e) => fail(e.message));
    void exited.then(({ code, signal }) => fail(`exited early (code ${code}, signal ${signal})`));
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (text: string) => {
      if (err.length < MAX_STDERR) err += text;
      if (done) return;
      const m = /listening on (\S+?):(\d+)\b/.exec(err);
      if (m) {
        done = true;
        clearTimeout(timer);
        res({
          kind: o.kind,
          command,
          child,
          pid: child.pid!,
          host: o.host,
          port: Number(m[2]),
          stderr: () => err,
          exited,
        });
      }
    });
  });
}

export function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    try {
      child.kill(signal);
    } catch {
      /* already gone */
    }
  }
}

export interface StopResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** SIGINT to exit, in seconds. */
  seconds: number;
  /** Had to SIGKILL after the timeout. */
  killed: boolean;
  /** "wrote N records" from the stop line, if printed. */
  reportedWritten: number | null;
  stopLine: string | null;
}

/** SIGINT to the server process only (as `kill -INT PID`), then waits for exit; SIGKILLs the group after timeoutMs. */
export async function stopServer(s: StartedServer, timeoutMs: number): Promise<StopResult> {
  const t0 = performance.now();
  let killed = false;
  try {
    s.child.kill('SIGINT');
  } catch {
    /* gone */
  }
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'timeout'>((res) => (timer = setTimeout(() => res('timeout'), Math.max(0, timeoutMs))));
  let r = await Promise.race([s.exited, timeout]);
  clearTimeout(timer);
  if (r === 'timeout') {
    killed = true;
    killGroup(s.child, 'SIGKILL');
    r = await s.exited;
  }
  const seconds = (performance.now() - t0) / 1000;
  // stderr may still be draining from the pipe after 'exit'
  await new Promise((res) => setTimeout(res, 20));
  const lines = s.stderr().split('\n');
  const stopLine = lines.find((l) => /stopped; wrote \d+ records?/.test(l)) ?? null;
  const m = stopLine ? /wrote (\d+) records?/.exec(stopLine) : null;
  return { code: r.code, signal: r.signal, seconds, killed, reportedWritten: m ? Number(m[1]) : null, stopLine };
}

// ---------------------------------------------------------------------------------------------------------------
// /proc monitoring

export interface ProcPeak {
  pid: number;
  /** 'tooling': tsx's esbuild helper next to raw-sink.ts, not part of the system (left out of totals). */
  role: 'server' | 'child' | 'tooling';
  /** Command name from /proc/PID/comm. */
  comm: string;
  /** max(VmRSS seen by polling, last VmHWM read), in KiB. */
  peakRssKiB: number;
  /** user+system CPU seconds at the last poll (a child's final ~100 ms may be missed). */
  cpuSeconds: number;
}

const CLK_TCK = 100; // USER_HZ on Linux

function readStat(pid: number): { ppid: number; cpu: number } | null {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'latin1');
    const rest = s.slice(s.lastIndexOf(')') + 2).split(' ');
    // rest[0] is field 3 (state): ppid is field 4, utime 14, stime 15
    return { ppid: Number(rest[1]), cpu: (Number(rest[11]) + Number(rest[12])) / CLK_TCK };
  } catch {
    return null;
  }
}

function readStatus(pid: number): { rss: number; hwm: number; comm: string } | null {
  try {
    const s = readFileSync(`/proc/${pid}/status`, 'latin1');
    const rss = /VmRSS:\s+(\d+)/.exec(s);
    const hwm = /VmHWM:\s+(\d+)/.exec(s);
    const name = /Name:\s+(.*)/.exec(s);
    return { rss: rss ? Number(rss[1]) : 0, hwm: hwm ? Number(hwm[1]) : 0, comm: name ? name[1].trim() : '?' };
  } catch {
    return null;
  }
}

/** Polls /proc every intervalMs for the server and all its descendants (e.g. cluster workers). */
export class ProcMonitor {
  private readonly peaks = new Map<number, ProcPeak>();
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly rootPid: number,
    intervalMs = 100,
  ) {
    this.poll();
    this.timer = setInterval(() => this.poll(), intervalMs);
    this.timer.unref();
  }

  poll(): void {
    const tree = new Set<number>([this.rootPid]);
    const parents = new Map<number, number>();
    let entries: string[] = [];
    try {
      entries = readdirSync('/proc');
    } catch {
      return;
    }
    const stats = new Map<number, { ppid: number; cpu: number }>();
    for (const e of entries) {
      const c = e.charCodeAt(0);
      if (c < 48 || c > 57) continue;
      const pid = Number(e);
      const st = readStat(pid);
      if (st === null) continue;
      stats.set(pid, st);
      parents.set(pid, st.ppid);
    }
    // descendants: repeat until no new member (process trees here are shallow)
    for (let grew = true; grew;) {
      grew = false;
      for (const [pid, ppid] of parents) {
        if (!tree.has(pid) && tree.has(ppid)) {
          tree.add(pid);
          grew = true;
        }
      }
    }
    for (const pid of tree) {
      const st = stats.get(pid);
      if (st === undefined) continue;
      const status = readStatus(pid);
      if (status === null) continue;
      let p = this.peaks.get(pid);
      if (p === undefined) {
        const role = pid === this.rootPid ? 'server' : status.comm === 'esbuild' ? 'tooling' : 'child';
        p = { pid, role, comm: status.comm, peakRssKiB: 0, cpuSeconds: 0 };
        this.peaks.set(pid, p);
      }
      p.peakRssKiB = Math.max(p.peakRssKiB, status.rss, status.hwm);
      p.cpuSeconds = Math.max(p.cpuSeconds, st.cpu);
    }
  }

  /** The processes seen so far, with their peaks. */
  current(): ProcPeak[] {
    return [...this.peaks.values()];
  }

  stop(): ProcPeak[] {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    return [...this.peaks.values()];
  }
}
