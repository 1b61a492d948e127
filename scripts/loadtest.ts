/**
 * Load test: replays the SocketHandler frames of bench/corpus.bin (scripts/make-corpus.py) against a server, or
 * runs real Python clients, and measures what arrives in the target file.
 *
 *   npm run loadtest -- [--count 200000 | --duration S] [--connections 4] [--rate R] [--server-args "..."]
 *   npm run loadtest -- --port 9020 --target logs.txt       (a server you started yourself)
 *   npm run loadtest -- --rate 5000 --duration 10            (latency percentiles)
 *   npm run loadtest -- --python-clients 4 --count 100000   (real logging.handlers.SocketHandler clients)
 *
 * Without --port it starts the server itself (log-server from dist/cli.js, or --server python-receiver|raw-sink)
 * on port 0 with a fresh temporary target, watches its memory and CPU in /proc, and stops it with SIGINT at the
 * end. See docs/benchmarks.md for what is measured and how.
 *
 * Also a module: bench.ts calls runLoadtest().
 */
import * as net from 'node:net';
import * as tls from 'node:tls';
import { readFileSync } from 'node:fs';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, watch, type FSWatcher } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { loadCorpus, writeTag, type Corpus } from './lib/corpus';
import { FileTailer, GrowableF64, type TagStats } from './lib/tail';
import {
  ProcMonitor,
  SERVER_KINDS,
  startServer,
  stopServer,
  type ProcPeak,
  type ServerKind,
  type StartedServer,
  type StopResult,
} from './lib/proc';
import { fixed, int, MB, percentile } from './lib/stats';

export interface LoadtestOptions {
  /** Corpus file (make-corpus.py). Default bench/corpus.bin. */
  corpus: string;
  host: string;
  /** Port of a running server; undefined: start one (`server`, `serverArgs`) on port 0. */
  port?: number;
  /** File to watch. Automatic (a temp file) when the load test starts the server. */
  target?: string;
  /** Which system is (or is to be started as) the server; raw-sink output is counted in bytes, not lines. */
  server: ServerKind;
  serverArgs: string[];
  /** Environment variables for the started server, added to this process's. */
  serverEnv?: Record<string, string>;
  connections: number;
  /** Connect over TLS (a server started with --tls-cert): the CA to verify it with, and a client certificate. */
  tls?: { ca: string; cert?: string; key?: string };
  /** Records in all (cycling through the corpus). Ignored with `duration` unless `rate` is set. */
  count: number;
  /** Send for this many seconds instead of a count. */
  duration?: number;
  /** Records per second in all, paced per 10 ms tick; undefined: as fast as possible. */
  rate?: number;
  /** As fast as possible, but K frames per socket write, each write waiting for the previous one to be handed
   * to the kernel, as a SocketHandler's sendall() per record does (K = 1). Default: writes of up to 256 KiB. */
  framesPerWrite?: number;
  /** Spawn this many python3 scripts/python-client.py processes instead of replaying the corpus. */
  pythonClients?: number;
  /** Patch a unique tag into each frame, note its send time, and report send→write latency percentiles.
   * Default: on when `rate` is set. */
  latency?: boolean;
  /** Patch unique tags and check that each record arrived exactly once (no latency). */
  verify: boolean;
  /** Global timeout in seconds: past it, report what there is and fail. */
  timeoutSec: number;
  /** After sending, give up waiting when the target has not grown for this many seconds. */
  stallSec: number;
  /** Target polling interval in ms (default 20; 2 in latency mode). */
  pollMs?: number;
  /** Keep the temporary directory with the target. */
  keep: boolean;
  /** Name for reports. */
  label?: string;
  /** Progress lines on stderr. */
  progress: boolean;
}

export const DEFAULT_OPTIONS: LoadtestOptions = {
  corpus: 'bench/corpus.bin',
  host: '127.0.0.1',
  server: 'log-server',
  serverArgs: [],
  connections: 4,
  count: 200_000,
  verify: false,
  timeoutSec: 120,
  stallSec: 10,
  keep: false,
  progress: false,
};

export interface LoadtestResult {
  label: string;
  server: ServerKind;
  serverArgs: string[];
  startedServer: boolean;
  mode: 'replay' | 'python-clients';
  corpus: { path: string; frames: number; meanFrameBytes: number } | null;
  connections: number;
  framesPerWrite: number | null;
  requested: { count: number | null; durationSec: number | null; rate: number | null };
  /** Frames handed to the kernel (replay) or sent by the Python clients. */
  sent: { records: number; bytes: number; seconds: number; recordsPerSec: number; mbPerSec: number };
  /** What the target file showed while the test ran (before the server was stopped). */
  written: {
    unit: 'lines' | 'bytes';
    expected: number;
    /** The target reached `expected` before the stop. */
    complete: boolean;
    /** First byte sent → the poll that saw the last expected line (null if never complete). */
    seconds: number | null;
    recordsPerSec: number | null;
    /** Bytes appended to the target per second over `seconds`. */
    outMbPerSec: number | null;
  };
  /** The target after the server stopped (or after a short grace period for an external server). */
  final: { lines: number; bytes: number; exact: boolean; reportedByServer: number | null };
  tags: (TagStats & { missing: number }) | null;
  latencyMs: {
    n: number;
    p50: number;
    p90: number;
    p99: number;
    max: number;
    mean: number;
    /** Per second of sending (by send time): [p50, max] of the records sent in it: shows warm-up and stalls. */
    bySecond: [number, number][];
  } | null;
  rateAchieved: number | null;
  procs: ProcPeak[] | null;
  /** Peak RSS of the server process, and the sum of the peaks of it and its children (workers). */
  peakRssMiB: { server: number; total: number } | null;
  serverCpuSeconds: number | null;
  /** CPU used by the load test process itself (it shares the machine with the server). */
  loadtestCpuSeconds: number;
  stop: StopResult | null;
  target: string | null;
  timedOut: boolean;
  errors: string[];
  ok: boolean;
}

const MAX_CHUNK_BYTES = 256 * 1024;
const TICK_MS = 10;

class Aborted extends Error {}

/** Runs one load test. Never throws for a failing server: failures are in `errors` and `ok`. */
export async function runLoadtest(opts: Partial<LoadtestOptions>): Promise<LoadtestResult> {
  const o: LoadtestOptions = { ...DEFAULT_OPTIONS, ...Object.fromEntries(Object.entries(opts).filter(([, v]) => v !== undefined)) };
  const latency = o.latency ?? o.rate !== undefined;
  const tagged = latency || o.verify;
  const pollMs = o.pollMs ?? (latency ? 2 : 20);
  const t00 = performance.now();
  const cpu0 = process.cpuUsage();
  const deadline = t00 + o.timeoutSec * 1000;
  const errors: string[] = [];
  const abort = new AbortController();
  let timedOut = false;
  const globalTimer = setTimeout(() => {
    timedOut = true;
    errors.push(`global timeout of ${o.timeoutSec} s reached`);
    abort.abort();
  }, o.timeoutSec * 1000);
  const onSignal = () => {
    errors.push('interrupted');
    abort.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  const label = o.label ?? (o.server === 'log-server' ? ['log-server', ...o.serverArgs].join(' ') : o.server);
  const log = (line: string) => {
    if (o.progress) process.stderr.write(`loadtest: ${line}\n`);
  };
  const result: LoadtestResult = {
    label,
    server: o.server,
    serverArgs: o.serverArgs,
    startedServer: o.port === undefined,
    mode: o.pythonClients ? 'python-clients' : 'replay',
    corpus: null,
    connections: o.pythonClients ?? o.connections,
    framesPerWrite: o.framesPerWrite ?? null,
    requested: {
      count: o.duration !== undefined && o.rate === undefined ? null : o.count,
      durationSec: o.duration ?? null,
      rate: o.rate ?? null,
    },
    sent: { records: 0, bytes: 0, seconds: NaN, recordsPerSec: NaN, mbPerSec: NaN },
    written: {
      unit: o.server === 'raw-sink' ? 'bytes' : 'lines',
      expected: 0,
      complete: false,
      seconds: null,
      recordsPerSec: null,
      outMbPerSec: null,
    },
    final: { lines: 0, bytes: 0, exact: false, reportedByServer: null },
    tags: null,
    latencyMs: null,
    rateAchieved: null,
    procs: null,
    peakRssMiB: null,
    serverCpuSeconds: null,
    loadtestCpuSeconds: NaN,
    stop: null,
    target: null,
    timedOut: false,
    errors,
    ok: false,
  };

  let tmpDir: string | null = null;
  let server: StartedServer | null = null;
  let monitor: ProcMonitor | null = null;
  let tailer: FileTailer | null = null;
  let poller: NodeJS.Timeout | null = null;
  let watcher: FSWatcher | null = null;
  let progressTimer: NodeJS.Timeout | null = null;
  const sockets: net.Socket[] = [];
  const clients: ChildProcess[] = [];
  /** performance.now() when the frame tagged with seq i was handed to its socket (tagged replay only). */
  let sendTimes: GrowableF64 | null = null;
  let t0 = NaN; // first byte handed to a socket (replay) or "go" to the clients
  let tSent = NaN; // everything sent (sockets flushed to the kernel and ended; clients exited)
  let sentRecords = 0; // handed to a socket (or reported by the clients)
  let sentBytes = 0;
  let expectedBytes = 0; // raw-sink: sum of (payload + 1)
  try {
    let corpus: Corpus | null = null;
    if (!o.pythonClients) {
      corpus = loadCorpus(resolve(o.corpus));
      result.corpus = { path: corpus.path, frames: corpus.frames, meanFrameBytes: corpus.data.length / corpus.frames };
      if (tagged && corpus.tagged !== corpus.frames) {
        throw new Error(
          `${corpus.path}: ${corpus.frames - corpus.tagged} frames lack the lt_tag placeholder; regenerate it with python3 scripts/make-corpus.py`,
        );
      }
    }

    let port = o.port;
    let target = o.target === undefined ? undefined : resolve(o.target);
    if (port === undefined) {
      tmpDir = mkdtempSync(join(tmpdir(), 'loadtest-'));
      target = join(tmpDir, o.server === 'raw-sink' ? 'target.bin' : 'target.jsonl');
      log(`starting ${label}`);
      server = await startServer({
        kind: o.server,
        host: o.host,
        target,
        args: o.serverArgs,
        env: o.serverEnv,
        startTimeoutMs: Math.min(30_000, deadline - performance.now()),
      });
      port = server.port;
      monitor = new ProcMonitor(server.pid, 100);
      log(`${label} listening on ${o.host}:${port} (pid ${server.pid}), target ${target}`);
    } else if (target === undefined) {
      errors.push('no --target given: only the sending side is measured');
    }
    result.target = target ?? null;
    if (target !== undefined) {
      tailer = await FileTailer.open(target, tagged);
      tailer.followRotation = o.serverArgs.some(
        (a) => a === '--max-size' || a === '--rotate' || a.startsWith('--max-size=') || a.startsWith('--rotate='),
      );
      const t = tailer;
      poller = setInterval(() => void t.poll(), pollMs);
      if (latency) {
        // inotify: read as soon as the file changes, not only on the next poll
        try {
          watcher = watch(target, () => void t.poll());
          watcher.on('error', () => {});
        } catch {
          /* polling alone */
        }
      }
    }

    // ---- send ------------------------------------------------------------------------------------------------
    sendTimes =
      tagged && !o.pythonClients
        ? new GrowableF64(
            o.rate !== undefined && o.duration !== undefined ? Math.ceil(o.rate * o.duration) + 16 : Math.min(o.count, 50_000_000),
          )
        : null;
    const totalWanted =
      o.duration !== undefined && o.rate === undefined
        ? Infinity
        : o.rate !== undefined && o.duration !== undefined
          ? Math.round(o.rate * o.duration)
          : o.count;
    progressTimer = setInterval(() => {
      const el = (performance.now() - t0) / 1000;
      if (Number.isFinite(el))
        log(
          `${el.toFixed(1)} s: sent ${int(sentRecords)}, target ${int(tailer?.lines ?? 0)} lines / ${fixed((tailer?.bytes ?? 0) / MB)} MB`,
        );
    }, 2000);
    progressTimer.unref();

    if (o.pythonClients) {
      const n = o.pythonClients;
      const per = Array.from({ length: n }, (_, i) => Math.floor(o.count / n) + (i < o.count % n ? 1 : 0));
      const script = resolve(__dirname, 'python-client.py');
      const ready: Promise<void>[] = [];
      const finished: Promise<{ records: number; bytes: number; seconds: number; dropped: number } | null>[] = [];
      let base = 0;
      for (let i = 0; i < n; i++) {
        const args = [
          script,
          '--host',
          o.host,
          '--port',
          String(port),
          '--count',
          String(per[i]),
          '--seed',
          String(i + 1),
          '--tag-base',
          String(base),
        ];
        if (tagged) args.push('--tag');
        base += per[i];
        const child = spawn('python3', args, { stdio: ['pipe', 'pipe', 'inherit'] });
        clients.push(child);
        const lines = createInterface({ input: child.stdout! });
        const it = lines[Symbol.asyncIterator]();
        ready.push(
          (async () => {
            const first = await it.next();
            if (first.done || first.value.trim() !== 'ready') throw new Error(`python client ${i} did not get ready`);
          })(),
        );
        finished.push(
          (async () => {
            await ready[i];
            const last = await it.next();
            if (last.done) return null;
            return JSON.parse(last.value) as { records: number; bytes: number; seconds: number; dropped: number };
          })(),
        );
      }
      await race(Promise.all(ready), abort.signal);
      t0 = performance.now();
      for (const c of clients) c.stdin!.write('go\n');
      const reports = await race(Promise.all(finished), abort.signal);
      tSent = performance.now();
      for (const [i, r] of reports.entries()) {
        if (r === null) {
          errors.push(`python client ${i} reported nothing`);
          continue;
        }
        sentRecords += r.records;
        sentBytes += r.bytes;
        if (r.dropped) errors.push(`python client ${i}: SocketHandler dropped ${r.dropped} records`);
      }
      expectedBytes = sentBytes - 3 * sentRecords;
    } else {
      const c = corpus!;
      const C = o.connections;
      for (let i = 0; i < C; i++) {
        const t = o.tls;
        const s: net.Socket =
          t === undefined
            ? net.connect({ host: o.host, port: port! })
            : tls.connect({
                host: o.host,
                port: port!,
                servername: 'localhost',
                ca: readFileSync(t.ca),
                cert: t.cert === undefined ? undefined : readFileSync(t.cert),
                key: t.key === undefined ? undefined : readFileSync(t.key),
              });
        s.setNoDelay(true);
        sockets.push(s);
      }
      const ready = o.tls === undefined ? 'connect' : 'secureConnect';
      await race(Promise.all(sockets.map((s) => new Promise<void>((res, rej) => s.once(ready, res).once('error', rej)))), abort.signal);
      const sendErrors = new Set<string>();
      for (const s of sockets) s.on('error', (e) => sendErrors.add(e.message));
      // each connection starts at a different place in the corpus
      const pos = sockets.map((_, i) => Math.floor((i * c.frames) / C));
      let seq = 0;
      /** Next chunk of up to maxFrames frames of connection i (never wrapping the corpus end). */
      const chunk = (i: number, maxFrames: number): { buf: Buffer; frames: number } => {
        const start = pos[i];
        const s = c.starts[start];
        let k = 0;
        while (k < maxFrames && start + k < c.frames && (k === 0 || c.starts[start + k + 1] - s <= MAX_CHUNK_BYTES)) k++;
        const e = c.starts[start + k];
        pos[i] = (start + k) % c.frames;
        let buf = c.data.subarray(s, e);
        const times = sendTimes;
        if (times !== null) {
          buf = Buffer.from(buf); // copy, then patch the tags
          const now = performance.now();
          for (let j = 0; j < k; j++) {
            writeTag(buf, c.tagAt[start + j] - s, seq);
            times.set(seq, now);
            seq++;
          }
        }
        sentRecords += k;
        sentBytes += e - s;
        return { buf, frames: k };
      };
      const waitDrain = (s: net.Socket) =>
        race(
          new Promise<void>((res, rej) => {
            const onDrain = () => (s.off('close', onClose), res());
            const onClose = () => (s.off('drain', onDrain), rej(new Error('connection closed by the server while sending')));
            s.once('drain', onDrain).once('close', onClose);
          }),
          abort.signal,
        );
      t0 = performance.now();
      const endAt = o.duration !== undefined ? t0 + o.duration * 1000 : Infinity;
      if (o.rate === undefined) {
        const per = sockets.map((_, i) =>
          totalWanted === Infinity ? Infinity : Math.floor(totalWanted / C) + (i < totalWanted % C ? 1 : 0),
        );
        await Promise.all(
          sockets.map(async (s, i) => {
            let left = per[i];
            const k = o.framesPerWrite;
            while (left > 0 && performance.now() < endAt) {
              if (abort.signal.aborted) throw new Aborted();
              if (s.destroyed) throw new Error('connection closed by the server while sending');
              const { buf, frames } = chunk(i, Math.min(left, k ?? 100_000));
              left -= frames;
              if (k !== undefined) {
                // like sendall(): the next write only once this one is in the kernel
                await race(new Promise<void>((res, rej) => s.write(buf, (err) => (err ? rej(err) : res()))), abort.signal);
              } else if (!s.write(buf)) await waitDrain(s);
            }
          }),
        );
      } else {
        const rate = o.rate;
        let next = 0;
        await new Promise<void>((res, rej) => {
          const tick = () => {
            if (abort.signal.aborted) return rej(new Aborted());
            const now = performance.now();
            const due = Math.min(totalWanted, Math.floor((rate * (now - t0)) / 1000) + 1);
            let owed = due - sentRecords;
            for (let tries = 0; owed > 0 && tries < C; tries++) {
              const i = next;
              next = (next + 1) % C;
              const s = sockets[i];
              if (s.destroyed) return rej(new Error('connection closed by the server while sending'));
              if (s.writableNeedDrain) continue; // falls behind; the achieved rate shows it
              const share = Math.ceil(owed / (C - tries));
              let left = share;
              while (left > 0) {
                const { buf, frames } = chunk(i, left);
                left -= frames;
                s.write(buf);
              }
              owed -= share;
            }
            if (sentRecords >= totalWanted || now >= endAt) return res();
            setTimeout(tick, Math.max(0, TICK_MS - (performance.now() - now)));
          };
          tick();
        });
      }
      await race(
        Promise.all(sockets.map((s) => new Promise<void>((res) => (s.writableFinished || s.destroyed ? res() : s.end(res))))),
        abort.signal,
      );
      tSent = performance.now();
      for (const e of sendErrors) errors.push(`socket: ${e}`);
      expectedBytes = sentBytes - 3 * sentRecords;
      if (o.rate !== undefined) result.rateAchieved = sentRecords / ((tSent - t0) / 1000);
    }
    const sendSeconds = (tSent - t0) / 1000;
    result.sent = {
      records: sentRecords,
      bytes: sentBytes,
      seconds: sendSeconds,
      recordsPerSec: sentRecords / sendSeconds,
      mbPerSec: sentBytes / MB / sendSeconds,
    };
    log(`sent ${int(sentRecords)} records in ${fixed(sendSeconds, 2)} s`);

    // ---- wait for the target ---------------------------------------------------------------------------------
    const unit = result.written.unit;
    const expected = unit === 'bytes' ? expectedBytes : sentRecords;
    result.written.expected = expected;
    if (tailer !== null) {
      const t = tailer;
      const have = () => (unit === 'bytes' ? t.bytes : t.lines);
      for (;;) {
        await t.poll();
        if (have() >= expected) {
          const secs = (t.lastGrowthAt - t0) / 1000;
          result.written = {
            ...result.written,
            complete: true,
            seconds: secs,
            recordsPerSec: sentRecords / secs,
            outMbPerSec: t.bytes / MB / secs,
          };
          break;
        }
        if (abort.signal.aborted) break;
        const now = performance.now();
        if (now - Math.max(t.lastGrowthAt, tSent) > o.stallSec * 1000) {
          errors.push(`target stopped growing at ${have()} of ${expected} ${unit} (nothing new for ${o.stallSec} s)`);
          break;
        }
        await sleep(pollMs);
      }
      log(result.written.complete ? `target complete after ${fixed(result.written.seconds, 2)} s` : 'target incomplete');
    }
  } catch (err) {
    if (!(err instanceof Aborted)) errors.push((err as Error).message);
    if (Number.isNaN(tSent) && !Number.isNaN(t0)) {
      // stopped while sending: what was handed to the sockets so far (the part still in their buffers is lost)
      const secs = (performance.now() - t0) / 1000;
      result.sent = {
        records: sentRecords,
        bytes: sentBytes,
        seconds: secs,
        recordsPerSec: sentRecords / secs,
        mbPerSec: sentBytes / MB / secs,
      };
      result.written.expected = result.written.unit === 'bytes' ? sentBytes - 3 * sentRecords : sentRecords;
      errors.push(`sending did not finish: ${int(sentRecords)} records handed to sockets (the last ones may not have reached the server)`);
    }
  } finally {
    clearTimeout(globalTimer);
    if (poller) clearInterval(poller);
    watcher?.close();
    if (progressTimer) clearInterval(progressTimer);
    for (const s of sockets) s.destroy();
    for (const c of clients) if (c.exitCode === null) c.kill('SIGKILL');
    if (server !== null) {
      log(`stopping ${label} (SIGINT)`);
      result.stop = await stopServer(server, abort.signal.aborted ? 10_000 : Math.max(10_000, deadline - performance.now()));
      result.final.reportedByServer = result.stop.reportedWritten;
      if (result.stop.killed) errors.push(`server did not exit within the timeout after SIGINT; killed`);
      else if (result.stop.code !== 0) errors.push(`server exited with code ${result.stop.code} signal ${result.stop.signal}`);
      if (result.stop.stopLine === null) errors.push('server printed no "stopped; wrote N records" line');
      log(`${label} stopped in ${fixed(result.stop.seconds, 2)} s: ${result.stop.stopLine ?? '(no stop line)'}`);
    }
    if (monitor !== null) {
      const procs = monitor.stop();
      result.procs = procs;
      const root = procs.find((p) => p.role === 'server');
      const counted = procs.filter((p) => p.role !== 'tooling');
      result.peakRssMiB = { server: (root?.peakRssKiB ?? 0) / 1024, total: counted.reduce((a, p) => a + p.peakRssKiB, 0) / 1024 };
      result.serverCpuSeconds = counted.reduce((a, p) => a + p.cpuSeconds, 0);
    }
    if (tailer !== null) {
      if (server === null && !abort.signal.aborted) await sleep(300); // an external server: a moment to finish
      await tailer.poll(); // (one already under way may have begun before the last write)
      tailer.scanNext = true;
      await tailer.poll();
      result.final.lines = tailer.lines;
      result.final.bytes = tailer.bytes;
      await tailer.close();
    }
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    if (tmpDir !== null && !o.keep) rmSync(tmpDir, { recursive: true, force: true });
  }

  // ---- results ---------------------------------------------------------------------------------------------------
  const sent = result.sent.records;
  const f = result.final;
  f.exact = tailer !== null && (result.written.unit === 'bytes' ? f.bytes === result.written.expected : f.lines === sent);
  if (tailer !== null && !f.exact) {
    errors.push(
      result.written.unit === 'bytes'
        ? `target has ${f.bytes} bytes, expected ${result.written.expected} (${sent} records)`
        : `target has ${f.lines} lines for ${sent} records sent (${f.lines > sent ? '+' : ''}${f.lines - sent})`,
    );
  }
  if (f.reportedByServer !== null && f.reportedByServer !== sent)
    errors.push(`server says it wrote ${f.reportedByServer} records; ${sent} were sent`);
  if (tagged && tailer !== null && tailer.firstSeen !== null) {
    const seen = tailer.firstSeen;
    let missing = 0;
    const lat: number[] = [];
    const perSecond: number[][] = [];
    for (let i = 0; i < sent; i++) {
      const at = seen.get(i);
      if (Number.isNaN(at)) missing++;
      else if (sendTimes !== null && latency) {
        const sentAt = sendTimes.get(i);
        lat.push(at - sentAt);
        (perSecond[Math.floor((sentAt - t0) / 1000)] ??= []).push(at - sentAt);
      }
    }
    result.tags = { ...tailer.tags, missing };
    if (missing || tailer.tags.duplicates || tailer.tags.unpatched) {
      errors.push(`tags: ${missing} records missing, ${tailer.tags.duplicates} duplicated, ${tailer.tags.unpatched} unpatched`);
    }
    if (lat.length > 0) {
      lat.sort((a, b) => a - b);
      result.latencyMs = {
        n: lat.length,
        p50: percentile(lat, 50),
        p90: percentile(lat, 90),
        p99: percentile(lat, 99),
        max: lat[lat.length - 1],
        mean: lat.reduce((a, b) => a + b, 0) / lat.length,
        bySecond: Array.from(perSecond, (v) => {
          if (!v) return [NaN, NaN];
          v.sort((a, b) => a - b);
          return [percentile(v, 50), v[v.length - 1]];
        }),
      };
    }
  }
  const cpu = process.cpuUsage(cpu0);
  result.loadtestCpuSeconds = (cpu.user + cpu.system) / 1e6;
  result.timedOut = timedOut;
  result.ok = errors.length === 0 || (errors.length === 1 && errors[0].startsWith('no --target'));
  return result;
}

function sleep(ms: number): Promise<void> {
  return new Promise((res) => setTimeout(res, ms));
}

/** Resolves or rejects with `p`, or rejects with Aborted once `signal` aborts. */
function race<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(new Aborted());
  return new Promise<T>((res, rej) => {
    const onAbort = () => rej(new Aborted());
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(
      (v) => (signal.removeEventListener('abort', onAbort), res(v)),
      (e) => (signal.removeEventListener('abort', onAbort), rej(e)),
    );
  });
}

// ---------------------------------------------------------------------------------------------------------------
// Human-readable summary

export function formatSummary(r: LoadtestResult): string {
  const out: string[] = [];
  const what =
    r.mode === 'python-clients'
      ? `${r.connections} python SocketHandler clients`
      : `${r.connections} connections replaying ${r.corpus?.path} (${int(r.corpus?.frames)} frames, mean ${int(r.corpus?.meanFrameBytes)} B)`;
  const fpw = r.framesPerWrite !== null ? `, ${r.framesPerWrite} frame${r.framesPerWrite === 1 ? '' : 's'} per write` : '';
  out.push(`${r.label}: ${what}${r.requested.rate !== null ? `, rate ${int(r.requested.rate)}/s` : ''}${fpw}`);
  const s = r.sent;
  out.push(
    `  sent      ${int(s.records)} records, ${fixed(s.bytes / MB)} MB in ${fixed(s.seconds, 2)} s: ${int(s.recordsPerSec)} records/s, ${fixed(s.mbPerSec)} MB/s`,
  );
  if (r.rateAchieved !== null) out.push(`  rate      achieved ${int(r.rateAchieved)} records/s of ${int(r.requested.rate)} requested`);
  const w = r.written;
  if (r.target !== null) {
    out.push(
      w.complete
        ? `  written   last record in the target ${fixed(w.seconds, 2)} s after the first byte: ${int(w.recordsPerSec)} records/s end-to-end, ${fixed(w.outMbPerSec)} MB/s of output`
        : `  written   INCOMPLETE: the target never reached ${int(w.expected)} ${w.unit}`,
    );
    const f = r.final;
    const count =
      w.unit === 'bytes'
        ? `${int(f.bytes)} bytes, expected ${int(w.expected)} (payload + \\n per record)`
        : `${int(f.lines)} lines for ${int(s.records)} records sent`;
    out.push(
      `  exact     ${f.exact ? 'yes' : 'NO'}: ${count}${f.reportedByServer !== null ? `; server says it wrote ${int(f.reportedByServer)}` : ''}`,
    );
  }
  if (r.tags)
    out.push(
      `  tags      ${int(r.tags.distinct)} distinct, ${r.tags.missing} missing, ${r.tags.duplicates} duplicated, ${r.tags.unpatched} unpatched`,
    );
  if (r.latencyMs) {
    const l = r.latencyMs;
    out.push(
      `  latency   send→in file: p50 ${fixed(l.p50, 2)} ms, p90 ${fixed(l.p90, 2)} ms, p99 ${fixed(l.p99, 2)} ms, max ${fixed(l.max, 2)} ms (n=${int(l.n)})`,
    );
    out.push(`            worst per second of sending: ${l.bySecond.map(([, mx]) => fixed(mx, 0)).join(' ')} ms`);
  }
  if (r.procs && r.peakRssMiB) {
    const each = r.procs
      .map((p) => `${p.role} ${p.pid} ${p.comm} ${fixed(p.peakRssKiB / 1024)} MiB, ${fixed(p.cpuSeconds, 2)} s CPU`)
      .join('; ');
    out.push(
      `  server    peak RSS ${fixed(r.peakRssMiB.server)} MiB (all processes ${fixed(r.peakRssMiB.total)} MiB), CPU ${fixed(r.serverCpuSeconds, 2)} s [${each}]`,
    );
  }
  out.push(`  loadtest  used ${fixed(r.loadtestCpuSeconds, 2)} s CPU itself`);
  if (r.stop)
    out.push(
      `  stop      SIGINT → exit in ${fixed(r.stop.seconds, 2)} s, code ${r.stop.code}${r.stop.killed ? ' (KILLED after timeout)' : ''}: ${r.stop.stopLine ?? '(no stop line)'}`,
    );
  for (const e of r.errors) out.push(`  ! ${e}`);
  out.push(`  result    ${r.ok ? 'OK' : 'FAILED'}`);
  return out.join('\n');
}

// ---------------------------------------------------------------------------------------------------------------
// CLI

const USAGE = `usage: npm run loadtest -- [options]

  --host H              server address (default 127.0.0.1)
  --port P              a running server; without it the load test starts one on port 0
  --target FILE         the file to watch (automatic when the load test starts the server)
  --server KIND         log-server (default), python-receiver or raw-sink: what to start, and how to count
                        (raw-sink output is checked in bytes: payload + \\n per record)
  --server-args "..."   extra arguments for the started server, e.g. "--multithreaded --workers 2"
  --corpus FILE         frames to replay (default bench/corpus.bin, from python3 scripts/make-corpus.py)
  --connections C       TCP connections (default 4)
  --count N             records in all, cycling through the corpus (default 200000)
  --duration S          send for S seconds instead (with --rate: rate × S records)
  --rate R              records/s in all, paced per 10 ms tick (default: as fast as possible)
  --frames-per-write K  K frames per write, each write waiting for the last (K=1: like SocketHandler's
                        sendall per record); default: writes of up to 256 KiB
  --latency             tag every record and report send→file latency (default on with --rate)
  --verify              tag every record and check each arrives exactly once
  --python-clients N    N real python3 SocketHandler clients (scripts/python-client.py), count/N records each
  --timeout S           global timeout (default 120); past it: report what there is, exit 1
  --stall S             give up when the target has not grown for S s after sending (default 10)
  --poll-ms MS          target polling interval (default 20; 2 with --latency)
  --keep                keep the temporary target directory
  --json                print the result as JSON on stdout (progress still on stderr)
  --quiet               no progress lines`;

/** `--server-args "--multithreaded --workers 2"`: parseArgs refuses a value that starts with "--", so join it. */
function joinServerArgs(argv: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--server-args' && i + 1 < argv.length) out.push(`--server-args=${argv[++i]}`);
    else out.push(argv[i]);
  }
  return out;
}

async function main(argv: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: joinServerArgs(argv),
      strict: true,
      options: {
        host: { type: 'string' },
        port: { type: 'string' },
        target: { type: 'string' },
        server: { type: 'string' },
        'server-args': { type: 'string' },
        corpus: { type: 'string' },
        connections: { type: 'string' },
        count: { type: 'string' },
        duration: { type: 'string' },
        rate: { type: 'string' },
        'frames-per-write': { type: 'string' },
        latency: { type: 'boolean' },
        verify: { type: 'boolean' },
        'python-clients': { type: 'string' },
        timeout: { type: 'string' },
        stall: { type: 'string' },
        'poll-ms': { type: 'string' },
        keep: { type: 'boolean' },
        json: { type: 'boolean' },
        quiet: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (err) {
    process.stderr.write(`loadtest: ${(err as Error).message}\n\n${USAGE}\n`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(USAGE + '\n');
    return 0;
  }
  const num = (name: string, v: string | undefined, min: number, integer = true): number | undefined => {
    if (v === undefined) return undefined;
    const n = Number(v);
    if (!Number.isFinite(n) || n < min || (integer && !Number.isInteger(n)))
      throw new Error(`--${name} must be ${integer ? 'an integer' : 'a number'} ≥ ${min}, not ${v}`);
    return n;
  };
  let o: Partial<LoadtestOptions>;
  try {
    const server = (values.server ?? 'log-server') as ServerKind;
    if (!SERVER_KINDS.includes(server)) throw new Error(`--server must be one of ${SERVER_KINDS.join(', ')}`);
    o = {
      host: values.host,
      port: num('port', values.port, 1),
      target: values.target,
      server,
      serverArgs: values['server-args'] ? values['server-args'].trim().split(/\s+/) : [],
      corpus: values.corpus,
      connections: num('connections', values.connections, 1),
      count: num('count', values.count, 1),
      duration: num('duration', values.duration, 0.001, false),
      rate: num('rate', values.rate, 1, false),
      framesPerWrite: num('frames-per-write', values['frames-per-write'], 1),
      latency: values.latency,
      verify: values.verify ?? false,
      pythonClients: num('python-clients', values['python-clients'], 1),
      timeoutSec: num('timeout', values.timeout, 1, false),
      stallSec: num('stall', values.stall, 0.1, false),
      pollMs: num('poll-ms', values['poll-ms'], 1),
      keep: values.keep ?? false,
      progress: !values.quiet,
    };
    if (o.framesPerWrite !== undefined && (o.rate !== undefined || o.pythonClients))
      throw new Error('--frames-per-write applies to the as-fast-as-possible replay only');
    if (o.pythonClients && o.rate !== undefined) throw new Error('--rate does not apply to --python-clients');
    if (o.pythonClients && o.duration !== undefined) throw new Error('--duration does not apply to --python-clients (use --count)');
    if (o.pythonClients && o.latency) throw new Error('--latency needs replayed frames (not --python-clients); --verify works with both');
  } catch (err) {
    process.stderr.write(`loadtest: ${(err as Error).message}\n`);
    return 2;
  }
  const r = await runLoadtest(o);
  if (values.json) process.stdout.write(JSON.stringify(r, null, 2) + '\n');
  else process.stdout.write(formatSummary(r) + '\n');
  return r.ok ? 0 : 1;
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      process.stderr.write(`loadtest: ${(err as Error)?.stack ?? String(err)}\n`);
      process.exitCode = 1;
    },
  );
}
