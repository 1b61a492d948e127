/**
 * Helpers for the reliability and hostile-input tests (test/reliability.test.ts, test/hostile.test.ts), on top
 * of test/helpers.ts.
 *
 * `launch` starts the built CLI in its own process group (`detached`), so that a test can signal the whole tree
 * at once as pm2 does, and so that cleanup can SIGKILL the server together with every worker it ever forked
 * (replacements included) even when the primary is gone. Every wait is bounded; every child is killed in the
 * test's `after` hook, also when the test fails.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import * as fsp from 'node:fs/promises';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import assert from 'node:assert/strict';
import type { TestContext } from 'node:test';
import * as net from 'node:net';
import {
  CLI,
  Child,
  LISTENING,
  PYTHON_DIR,
  assertBuilt,
  childPidsOf,
  connect,
  readLines,
  run,
  sleep,
  startTimeOf,
  within,
  type Exit,
  cleanEnv,
} from './helpers';

export const CLIENTS = join(PYTHON_DIR, 'reliability_clients.py');

/** Polls `check` every `everyMs` until it returns a truthy value; fails after `timeoutMs` with `what()`. */
export async function waitFor<T>(
  check: () => T | Promise<T>,
  timeoutMs: number,
  what: () => string,
  everyMs = 25,
): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v) return v as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what()}`);
    await sleep(everyMs);
  }
}

/** Fields of /proc/PID/status as numbers (kB for the Vm* ones); null if the process is gone. */
export function procStatus(pid: number): Map<string, number> | null {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return null;
  }
  const fields = new Map<string, number>();
  for (const line of text.split('\n')) {
    const m = /^(\w+):\s+(\d+)/.exec(line);
    if (m) fields.set(m[1], Number(m[2]));
  }
  return fields;
}

export interface LaunchOptions {
  target: string;
  multithreaded: boolean;
  workers?: number;
  /** Extra CLI arguments. */
  args?: string[];
  env?: NodeJS.ProcessEnv;
  startTimeoutMs?: number;
}

export interface Server {
  pid: number;
  port: number;
  stderr(): string;
  readonly exited: boolean;
  /** Resolves once the primary has exited (never rejects). */
  exit: Promise<Exit>;
  /** Milliseconds since the epoch at which the primary exited (or NaN while it runs). */
  exitedAt(): number;
  /** Signals the primary only. */
  signal(signal: NodeJS.Signals): void;
  /** Signals the whole process group (primary and workers at once), as pm2 does. */
  signalGroup(signal: NodeJS.Signals): void;
  /** Waits (bounded) for the exit. */
  waitExit(timeoutMs: number, what?: string): Promise<Exit>;
  /** Current worker pids (children of the primary); remembered for the cleanup. */
  workers(): Promise<number[]>;
  /** Primary + workers: summed VmRSS, VmSize (kB), read from /proc. */
  memoryKb(): Promise<{ rss: number; size: number; pids: number[] }>;
  /** SIGKILLs the primary, every worker and the process group; waits (bounded) until they are gone. */
  kill(): Promise<void>;
}

/** Starts `node dist/cli.js` on 127.0.0.1 port 0 (with --utc) in its own process group; resolves once it
 * listens (and, multithreaded, once its workers exist). */
export async function launch(t: TestContext, o: LaunchOptions): Promise<Server> {
  assertBuilt();
  const args = ['--host', '127.0.0.1', '--port', '0', '--target', o.target, '--utc'];
  if (o.multithreaded) args.push('--multithreaded', '--workers', String(o.workers ?? 2));
  args.push(...(o.args ?? []));
  const env = o.env ? Object.fromEntries(Object.entries(o.env).filter(([k]) => !k.startsWith('LOG_SERVER'))) : cleanEnv();
  const child = new Child(
    spawn(process.execPath, [CLI, ...args], { env, cwd: tmpdir(), stdio: ['ignore', 'pipe', 'pipe'], detached: true }),
  );
  const pid = child.proc.pid;
  if (pid === undefined) throw new Error('could not spawn the CLI');
  const primaryStart = startTimeOf(pid);
  const exit = child.exit;

  const known = new Map<number, string>(); // worker pid -> start time
  const remember = (pids: number[]) => {
    for (const p of pids) {
      const st = startTimeOf(p);
      if (st !== null && !known.has(p)) known.set(p, st);
    }
  };
  const knownAlive = () => [...known].filter(([p, st]) => startTimeOf(p) === st).map(([p]) => p);
  const primaryAlive = () => !child.exited && primaryStart !== null && startTimeOf(pid) === primaryStart;
  const workers = async () => {
    if (child.exited) return [];
    const pids = childPidsOf(pid);
    remember(pids);
    return pids;
  };
  const kill = async () => {
    if (!child.exited) await workers();
    // The group id is the primary's pid; it stays valid (and cannot be reused) while any member lives.
    if (primaryAlive() || knownAlive().length > 0) {
      try {
        process.kill(-pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
    for (const p of knownAlive()) {
      try {
        process.kill(p, 'SIGKILL');
      } catch {
        // gone
      }
    }
    await within(exit, 10_000, `server ${pid} to exit after SIGKILL`).catch(() => {});
    const deadline = Date.now() + 5000;
    while (knownAlive().length > 0 && Date.now() < deadline) await sleep(20);
  };
  t.after(kill);

  const timeout = o.startTimeoutMs ?? 15_000;
  const deadline = Date.now() + timeout;
  let m: RegExpMatchArray | null;
  while (!(m = child.stderr.match(LISTENING))) {
    if (child.exited) {
      const e = await exit;
      throw new Error(`server (${args.join(' ')}) exited (${e.code ?? e.signal}) before listening; stderr:\n${e.stderr}`);
    }
    if (Date.now() > deadline) throw new Error(`server did not listen within ${timeout} ms; stderr so far:\n${child.stderr}`);
    await sleep(10);
  }
  if (o.multithreaded) {
    const want = o.workers ?? 2;
    await waitFor(
      async () => (await workers()).length >= want,
      5000,
      () => `${want} workers of ${pid}`,
    );
  }
  const signalPid = (target: number, signal: NodeJS.Signals) => {
    try {
      process.kill(target, signal);
    } catch (err) {
      throw new Error(`cannot send ${signal} to ${target}: ${(err as Error).message}`);
    }
  };
  return {
    pid,
    port: Number(m[1]),
    stderr: () => child.stderr,
    get exited() {
      return child.exited;
    },
    exit,
    exitedAt: () => child.exitedAt,
    signal(signal) {
      if (primaryAlive()) signalPid(pid, signal);
    },
    signalGroup(signal) {
      if (primaryAlive()) signalPid(-pid, signal);
    },
    waitExit: (timeoutMs, what = 'exit') => within(exit, timeoutMs, `server ${pid}: ${what}; stderr:\n${child.stderr}`),
    workers,
    async memoryKb() {
      const pids = [pid, ...(await workers())];
      let rss = 0;
      let size = 0;
      for (const p of pids) {
        const s = procStatus(p);
        rss += s?.get('VmRSS') ?? 0;
        size += s?.get('VmSize') ?? 0;
      }
      return { rss, size, pids };
    },
    kill,
  };
}

/** Runs reliability_clients.py to completion (bounded); fails with its stderr unless it exits 0. */
export async function client(args: string[], timeoutMs = 60_000): Promise<Exit> {
  const r = await run('python3', [CLIENTS, ...args], { timeoutMs });
  if (r.timedOut) throw new Error(`reliability_clients.py ${args.join(' ')} timed out\n${r.stderr}`);
  if (r.code !== 0) throw new Error(`reliability_clients.py ${args.join(' ')} exited ${r.code ?? r.signal}\n${r.stderr}`);
  return r;
}

/** `numbered` records: TAG, COUNT, optional PAD characters and interval. Resolves with the exit (code 0). */
export function numbered(port: number, tag: string, count: number, pad = 0, intervalMs = 0, timeoutMs = 60_000): Promise<Exit> {
  return client(['numbered', '127.0.0.1', String(port), tag, String(count), String(pad), String(intervalMs)], timeoutMs);
}

/** Starts reliability_clients.py (or another Python `script`) in the background; it is SIGKILLed in `t.after` if still running. */
export function background(t: TestContext, args: string[], script = CLIENTS): Child {
  const child = new Child(spawn('python3', [script, ...args], { cwd: tmpdir(), stdio: ['ignore', 'pipe', 'pipe'] }));
  t.after(async () => {
    child.kill();
    await within(child.exit, 5000, 'python client to exit').catch(() => {});
  });
  return child;
}

export type Rec = Record<string, unknown>;

/** Reads `file`; asserts it is empty or ends with "\n" (no partial last line) and that every line is a JSON
 * object. Returns the parsed records. */
export async function readRecords(file: string): Promise<Rec[]> {
  const text = await fsp.readFile(file, 'utf8');
  assert.ok(text === '' || text.endsWith('\n'), `${file} ends with a partial line: …${JSON.stringify(text.slice(-200))}`);
  const lines = text === '' ? [] : text.slice(0, -1).split('\n');
  return lines.map((line, i) => {
    let v: unknown;
    try {
      v = JSON.parse(line);
    } catch (err) {
      assert.fail(`${file}:${i + 1} is not JSON (${(err as Error).message}): ${line.slice(0, 300)}`);
    }
    assert.ok(v !== null && typeof v === 'object' && !Array.isArray(v), `${file}:${i + 1} is not an object: ${line.slice(0, 300)}`);
    return v as Rec;
  });
}

/** For polling while the server writes: the records of the complete lines so far (a last line still being
 * written is left out; a complete line that is not JSON still fails). [] if the file does not exist. */
export async function recordsSoFar(file: string): Promise<Rec[]> {
  return (await readLines(file)).map((line, i) => {
    try {
      return JSON.parse(line) as Rec;
    } catch (err) {
      throw new Error(`${file}:${i + 1} is not JSON (${(err as Error).message}): ${line.slice(0, 300)}`);
    }
  });
}

/** Complete lines of `file` so far (0 if missing), counting only "\n"-terminated ones. */
export async function lineCount(file: string): Promise<number> {
  try {
    const b = await fsp.readFile(file);
    let n = 0;
    for (let i = b.indexOf(10); i !== -1; i = b.indexOf(10, i + 1)) n++;
    return n;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 0;
    throw err;
  }
}

/** The records of `tag` must be exactly seq 0..count-1, once each, in order, with the right message. */
export function assertTag(records: Rec[], tag: string, count: number, where = 'the target'): void {
  const mine = records.filter((r) => r.tag === tag);
  const seqs = mine.map((r) => r.seq as number);
  const dups = seqs.length - new Set(seqs).size;
  let missing = 0;
  const have = new Set(seqs);
  for (let i = 0; i < count; i++) if (!have.has(i)) missing++;
  assert.equal(mine.length, count, `${where}: ${mine.length} records of ${tag}, want ${count} (${missing} missing, ${dups} duplicates)`);
  for (let i = 0; i < count; i++) {
    if (seqs[i] !== i)
      assert.fail(`${where}: record ${i} of ${tag} has seq ${seqs[i]} (out of order or missing; ${missing} missing, ${dups} duplicates)`);
    if (mine[i].message !== `${tag} ${i}`) assert.fail(`${where}: record ${i} of ${tag} has message ${JSON.stringify(mine[i].message)}`);
  }
}

/** Lines of `stderr` that look like a stack trace, or an unexpected-error report. */
export function troubleLines(stderr: string): string[] {
  return stderr.split('\n').filter((l) => l.includes('    at ') || /unexpected error|uncaught/i.test(l));
}

/** The "stopped; wrote N records" count of the summary line, or null. */
export function writtenOf(stderr: string): number | null {
  const m = /^log-server: stopped; wrote (\d+) records?/m.exec(stderr);
  return m ? Number(m[1]) : null;
}

/** helpers.connect plus an 'error' listener for the socket's whole life: a reset by the server (which these
 * tests provoke) must fail an assertion, not crash the test runner with an uncaught ECONNRESET/EPIPE. */
export async function dial(t: TestContext, port: number): Promise<net.Socket> {
  const socket = await connect(t, port);
  socket.on('error', () => {});
  return socket;
}
