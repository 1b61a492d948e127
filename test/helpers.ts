/**
 * Shared helpers for the end-to-end and CLI tests: run the built CLI (dist/cli.js) as a child process, run the
 * Python senders in test/python/, wait for lines in a file. Every wait is bounded, and every child started
 * here is killed in the test's `after` hook (also when the test fails).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { AssertionError } from 'node:assert';

export const ROOT = join(__dirname, '..');
export const CLI = join(ROOT, 'dist', 'cli.js');
export const PYTHON_DIR = join(__dirname, 'python');
export const SEND = join(PYTHON_DIR, 'send_records.py');
export const PACKAGE_VERSION = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;

/** Fails with a clear message when the CLI has not been built. */
export function assertBuilt(): void {
  if (!existsSync(CLI)) throw new Error(`${CLI} does not exist: run \`npm run build\` before these tests`);
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** A fresh directory under os.tmpdir(), removed after the test. */
export async function tempDir(t: TestContext, prefix = 'log-server-test-'): Promise<string> {
  const dir = await fsp.mkdtemp(join(tmpdir(), prefix));
  t.after(() => fsp.rm(dir, { recursive: true, force: true }));
  return dir;
}

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** Milliseconds from spawn to exit. */
  ms: number;
}

function killPid(pid: number, signal: NodeJS.Signals = 'SIGKILL'): void {
  try {
    process.kill(pid, signal);
  } catch {
    // already gone
  }
}

/** A process's start time (clock ticks since boot, /proc/PID/stat field 22), or null if it is gone. Used so
 * that a recorded pid is only ever signalled while it is still the same process (pids are reused). */
export function startTimeOf(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? null;
  } catch {
    return null;
  }
}

/** A pid plus its start time: `kill()` signals it only if it is still that process. */
class KnownProcess {
  private readonly started: string | null;
  constructor(readonly pid: number) {
    this.started = startTimeOf(pid);
  }
  get alive(): boolean {
    return this.started !== null && startTimeOf(this.pid) === this.started;
  }
  kill(signal: NodeJS.Signals = 'SIGKILL'): void {
    if (this.alive) killPid(this.pid, signal);
  }
}

/** Pids whose parent is `pid` (the workers of a multithreaded server), read from /proc. */
export function childPidsOf(pid: number): number[] {
  const found: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid) found.push(Number(name));
    } catch {
      // gone meanwhile
    }
  }
  return found.sort((a, b) => a - b);
}

export async function childPids(pid: number): Promise<number[]> {
  return childPidsOf(pid);
}

/**
 * Tracks a spawned child: collects its output and resolves `exit` (never rejects) once it has exited and its
 * pipes closed. A child that could not be spawned "exits" with code and signal null and the error in stderr.
 */
export class Child {
  stdout = '';
  stderr = '';
  readonly exit: Promise<Exit>;
  exited = false;
  /** Milliseconds since the epoch at which it exited (NaN while it runs). */
  exitedAt = NaN;
  private readonly started = Date.now();

  constructor(readonly proc: ChildProcess) {
    proc.stdout?.setEncoding('utf8').on('data', (s: string) => (this.stdout += s));
    proc.stderr?.setEncoding('utf8').on('data', (s: string) => (this.stderr += s));
    this.exit = new Promise((resolve) => {
      proc.once('error', (err) => {
        this.exited = true;
        resolve({ code: null, signal: null, stdout: this.stdout, stderr: this.stderr + String(err), ms: Date.now() - this.started });
      });
      proc.once('exit', (code, signal) => {
        this.exited = true;
        this.exitedAt = Date.now();
        const ms = this.exitedAt - this.started;
        const done = () => resolve({ code, signal, stdout: this.stdout, stderr: this.stderr, ms });
        // 'close' comes once the pipes are drained; a leftover grandchild holding them must not block the test.
        const fallback = setTimeout(done, 2000);
        proc.once('close', () => {
          clearTimeout(fallback);
          done();
        });
      });
    });
  }

  kill(signal: NodeJS.Signals = 'SIGKILL'): void {
    if (!this.exited) this.proc.kill(signal);
  }
}

/** Waits for `p`, failing after `ms` with `what` in the message. */
export async function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * This process's environment without the server's own variables (LOG_SERVER_*) nor those in `drop`, plus
 * `extra`: what every launcher of the server under test gives it, so a variable set in the shell that runs the
 * tests cannot change what they test.
 */
export function cleanEnv(extra: NodeJS.ProcessEnv = {}, drop: (name: string) => boolean = () => false): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('LOG_SERVER') && !drop(k)) env[k] = v;
  return { ...env, ...extra };
}

export interface RunOptions {
  env?: NodeJS.ProcessEnv;
  timeoutMs?: number;
  /** Default: os.tmpdir(), so that a server never writes a default logs.txt into the project. */
  cwd?: string;
  input?: string;
}

/**
 * Runs a command to completion. It is killed (SIGKILL) after `timeoutMs`, and the returned exit then has
 * signal SIGKILL and `timedOut` set.
 */
export async function run(cmd: string, args: string[], o: RunOptions = {}): Promise<Exit & { timedOut: boolean }> {
  const child = new Child(spawn(cmd, args, { env: o.env ?? process.env, cwd: o.cwd ?? tmpdir(), stdio: ['pipe', 'pipe', 'pipe'] }));
  // A child may exit before reading its input (mount, pgrep): that EPIPE is not the test's failure.
  child.proc.stdin?.on('error', () => {});
  child.proc.stdin?.end(o.input ?? '');
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    child.kill('SIGKILL');
  }, o.timeoutMs ?? 30_000);
  try {
    return { ...(await child.exit), timedOut };
  } finally {
    clearTimeout(timer);
    child.kill('SIGKILL');
  }
}

/** Runs the CLI with `args` to completion (bounded). */
export function runCli(args: string[], o: RunOptions = {}) {
  assertBuilt();
  return run(process.execPath, [CLI, ...args], o);
}

/** Runs test/python/send_records.py (bounded) and fails with its stderr unless it exits 0. */
export async function python(args: string[], o: RunOptions = {}): Promise<Exit> {
  const r = await run('python3', args, { timeoutMs: 60_000, ...o });
  if (r.timedOut) throw new Error(`python3 ${args.join(' ')} timed out\n${r.stderr}`);
  if (r.code !== 0) throw new Error(`python3 ${args.join(' ')} exited ${r.code ?? r.signal}\n${r.stderr}`);
  return r;
}

export function send(args: string[], o: RunOptions = {}): Promise<Exit> {
  return python([SEND, ...args], o);
}

export const LISTENING = /^log-server: listening on 127\.0\.0\.1:(\d+), writing (.+), (single-process|multithreaded with (\d+) workers)$/m;

export interface ServerHandle {
  proc: ChildProcess;
  pid: number;
  port: number;
  /** The target as the server names it in its listening line. */
  writing: string;
  /** The whole listening line's mode part: "single-process" or "multithreaded with N workers". */
  modeText: string;
  /** Worker pids (multithreaded mode), read once the server listens. */
  workers: number[];
  /** Everything written to stderr so far. */
  stderr(): string;
  stdout(): string;
  readonly exited: boolean;
  /** Resolves once the process has exited. */
  exit: Promise<Exit>;
  /** Sends `signal` and waits (bounded) for the exit. */
  stop(signal?: NodeJS.Signals, timeoutMs?: number): Promise<Exit>;
  /** SIGKILLs the server and its workers, now. */
  killHard(): Promise<void>;
}

export interface ServeOptions {
  target?: string;
  multithreaded?: boolean;
  workers?: number;
  utc?: boolean;
  /** Extra CLI arguments. */
  args?: string[];
  /** Replace the default arguments entirely (then target/multithreaded/... are ignored). */
  rawArgs?: string[];
  env?: NodeJS.ProcessEnv;
  /** Default: os.tmpdir(). */
  cwd?: string;
  /** How long to wait for the listening line. */
  startTimeoutMs?: number;
}

/** Mode of a test: single-process, or multithreaded with 2 workers. */
export interface Mode {
  name: string;
  multithreaded: boolean;
  /** Added to the server's environment. */
  env?: NodeJS.ProcessEnv;
}
export const MODES: Mode[] = [
  { name: 'single-process', multithreaded: false },
  { name: 'multithreaded (2 workers)', multithreaded: true },
];

export function serverArgs(o: ServeOptions): string[] {
  if (o.rawArgs) return o.rawArgs;
  const args = ['--host', '127.0.0.1', '--port', '0'];
  if (o.target !== undefined) args.push('--target', o.target);
  if (o.multithreaded) args.push('--multithreaded', '--workers', String(o.workers ?? 2));
  if (o.utc ?? true) args.push('--utc');
  return [...args, ...(o.args ?? [])];
}

/**
 * Starts the built CLI, resolves once its listening line is on stderr (port parsed from it). The server and its
 * workers are SIGKILLed in `t.after` if still running. Rejects (with the stderr) if it exits or does not
 * listen in time.
 */
export async function startCli(t: TestContext, o: ServeOptions): Promise<ServerHandle> {
  assertBuilt();
  const child = new Child(
    spawn(process.execPath, [CLI, ...serverArgs(o)], {
      env: o.env ?? cleanEnv(),
      cwd: o.cwd ?? tmpdir(),
      stdio: ['ignore', 'pipe', 'pipe'],
    }),
  );
  const pid = child.proc.pid;
  if (pid === undefined) throw new Error('could not spawn the CLI');
  let workers: number[] = [];
  const known = new Map<number, KnownProcess>();
  const remember = (pids: number[]) => {
    for (const p of pids) if (!known.has(p)) known.set(p, new KnownProcess(p));
  };
  const killHard = async () => {
    // Find the workers first: once the primary is gone they are no longer its children.
    if (!child.exited) remember(await childPids(pid).catch(() => []));
    child.kill('SIGKILL');
    for (const w of known.values()) w.kill('SIGKILL');
    await within(child.exit, 10_000, `server ${pid} to exit after SIGKILL`).catch(() => {});
    const deadline = Date.now() + 5000;
    while ([...known.values()].some((w) => w.alive) && Date.now() < deadline) await sleep(20);
  };
  t.after(killHard);

  const timeout = o.startTimeoutMs ?? 15_000;
  const deadline = Date.now() + timeout;
  let m: RegExpMatchArray | null = null;
  while (!(m = child.stderr.match(LISTENING))) {
    if (child.exited) {
      const e = await child.exit;
      throw new Error(`server exited (${e.code ?? e.signal}) before listening; stderr:\n${e.stderr}`);
    }
    if (Date.now() > deadline) throw new Error(`server did not listen within ${timeout} ms; stderr so far:\n${child.stderr}`);
    await sleep(10);
  }
  if (o.multithreaded) {
    const want = o.workers ?? 2;
    const until = Date.now() + 5000;
    while ((workers = await childPids(pid)).length < want && Date.now() < until) await sleep(50);
    remember(workers);
    if (workers.length < want)
      throw new Error(`the server has ${workers.length} workers, not the ${want} asked for; stderr:\n${child.stderr}`);
  }
  return {
    proc: child.proc,
    pid,
    port: Number(m[1]),
    writing: m[2],
    modeText: m[3],
    get workers() {
      return workers;
    },
    stderr: () => child.stderr,
    stdout: () => child.stdout,
    get exited() {
      return child.exited;
    },
    exit: child.exit,
    async stop(signal: NodeJS.Signals = 'SIGINT', timeoutMs = 20_000) {
      child.kill(signal);
      return within(child.exit, timeoutMs, `server ${pid} to exit after ${signal}; stderr:\n${child.stderr}`);
    },
    killHard,
  };
}

/**
 * A tmpfs of `size` (a small disk to fill) mounted in a fresh directory; unmounted (after `beforeUnmount`) and
 * removed after the test. Needs root with CAP_SYS_ADMIN, as in CI.
 */
export async function smallFs(t: TestContext, size: string, beforeUnmount: () => Promise<void>): Promise<string> {
  const dir = await fsp.mkdtemp(join(tmpdir(), 'log-server-smallfs-'));
  const mnt = join(dir, 'fs');
  await fsp.mkdir(mnt);
  const r = await run('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', mnt], { timeoutMs: 10_000 });
  if (r.code !== 0) {
    await fsp.rm(dir, { recursive: true, force: true });
    throw new Error(
      `cannot mount a tmpfs (mount exited ${r.code ?? r.signal}: ${r.stderr.trim()}). ` +
        'These tests need root with CAP_SYS_ADMIN (as in CI); EPERM means the container does not allow mount.',
    );
  }
  t.after(async () => {
    await beforeUnmount();
    const u = await run('umount', [mnt], { timeoutMs: 10_000 });
    if (u.code !== 0) await run('umount', ['-l', mnt], { timeoutMs: 10_000 });
    await fsp.rm(dir, { recursive: true, force: true });
  });
  return mnt;
}

/** The file's complete lines (without their "\n"); [] if it does not exist. */
export async function readLines(file: string): Promise<string[]> {
  let text: string;
  try {
    text = await fsp.readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  const lines = text.split('\n');
  lines.pop(); // after the last "\n" (or a partial line)
  return lines;
}

/** Waits until `file` holds at least `n` complete lines; fails after `timeoutMs` with the count reached. */
export async function waitForLines(file: string, n: number, timeoutMs = 20_000): Promise<string[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const lines = await readLines(file);
    if (lines.length >= n) return lines;
    if (Date.now() > deadline) throw new Error(`${file} has ${lines.length} lines after ${timeoutMs} ms, want ${n}`);
    await sleep(25);
  }
}

/** A 4-byte big-endian length prefix + payload, as SocketHandler frames a pickle. */
export function frame(payload: Buffer): Buffer {
  const head = Buffer.alloc(4);
  head.writeUInt32BE(payload.length);
  return Buffer.concat([head, payload]);
}

/** Connects to 127.0.0.1:port (bounded). The socket is destroyed in `t.after`. */
export async function connect(t: TestContext, port: number): Promise<net.Socket> {
  const socket = net.connect({ host: '127.0.0.1', port });
  t.after(() => socket.destroy());
  await within(
    new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    }),
    5000,
    `connect to 127.0.0.1:${port}`,
  );
  return socket;
}

/** Writes and ends the socket, resolving once the peer has closed too (bounded). */
export async function endSocket(socket: net.Socket, data?: Buffer): Promise<void> {
  await within(
    new Promise<void>((resolve) => {
      socket.once('close', () => resolve());
      socket.on('error', () => {});
      socket.resume(); // the server sends nothing; reading lets 'end' and 'close' come
      if (data) socket.end(data);
      else socket.end();
    }),
    10_000,
    'socket to close',
  );
}

/** Lines of `stderr` that look like a stack trace ("    at ..."). */
export function stackLines(stderr: string): string[] {
  return stderr.split('\n').filter((l) => l.includes('    at '));
}

/** Starts a plain TCP server on 127.0.0.1:0 (closed after the test) and returns its port. */
export async function occupyPort(t: TestContext): Promise<number> {
  const server = net.createServer((s) => s.destroy());
  await within(new Promise<void>((r) => server.listen({ host: '127.0.0.1', port: 0 }, () => r())), 5000, 'occupy a port');
  t.after(() => new Promise<void>((r) => server.close(() => r())));
  return (server.address() as net.AddressInfo).port;
}

/** True when something accepts TCP connections on 127.0.0.1:port. */
export function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/** A port free right now on 127.0.0.1 (the OS picks it; the listener is closed at once). */
export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((r) => server.listen({ host: '127.0.0.1', port: 0 }, () => r()));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

/** GET http://127.0.0.1:port/path (bounded): status and body. */
export async function httpGet(port: number, path: string): Promise<{ status: number; text: string }> {
  const r = await fetch(`http://127.0.0.1:${port}${path}`, { signal: AbortSignal.timeout(5000) });
  return { status: r.status, text: await r.text() };
}

/** Samples of a Prometheus text exposition: "name{labels}" (labels as printed) → value. */
export function metricSamples(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const at = line.lastIndexOf(' ');
    out.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return out;
}

/** Every sample of the server's /metrics on `port` (which must answer 200). */
export async function scrapeMetrics(port: number): Promise<Map<string, number>> {
  const r = await httpGet(port, '/metrics');
  if (r.status !== 200) throw new Error(`/metrics answered ${r.status}: ${r.text}`);
  return metricSamples(r.text);
}

/** One sample of /metrics, by its name as printed (labels included); undefined if it is not there. */
export async function metric(port: number, name: string): Promise<number | undefined> {
  return (await scrapeMetrics(port)).get(name);
}

/**
 * The one "stopped cleanly" check: exit code 0, the stop line (with `written` records, when given), and no
 * stack trace or unexpected-error report on stderr; with `quiet`, also no refused frames, dead workers, lost
 * lock, write errors or workers that did not finish.
 */
export function assertStoppedCleanly(
  exit: { code: number | null; signal: string | null; stderr: string },
  o: { written?: number; quiet?: boolean } = {},
): void {
  const why = `exit ${exit.code} (signal ${exit.signal}); stderr:\n${exit.stderr}`;
  if (exit.code !== 0) throw new AssertionError({ message: `not a clean stop: ${why}`, actual: exit.code, expected: 0, operator: '===' });
  const stopLine = /^log-server: stopped; wrote (\d+) records? /m.exec(exit.stderr);
  if (stopLine === null) throw new AssertionError({ message: `no stop line: ${why}` });
  if (o.written !== undefined && Number(stopLine[1]) !== o.written)
    throw new AssertionError({
      message: `the stop line says ${stopLine[1]} records, not ${o.written}: ${why}`,
      actual: Number(stopLine[1]),
      expected: o.written,
      operator: '===',
    });
  const trouble = exit.stderr.split('\n').filter((l) => l.includes('    at ') || /unexpected error|uncaught/i.test(l));
  if (trouble.length > 0) throw new AssertionError({ message: `a stack trace or unexpected error on stderr: ${why}` });
  if (o.quiet) {
    const complaints = exit.stderr.split('\n').filter((l) => /refused|died|lost the lock|cannot write|did not finish/i.test(l));
    if (complaints.length > 0) throw new AssertionError({ message: `complaints on stderr: ${complaints.join('\n')}\n${why}` });
  }
}
