/**
 * Reliability: the built CLI (dist/cli.js) as a child process in its own process group, real python3
 * SocketHandler clients (test/python/reliability_clients.py), the target checked record by record.
 *
 * - graceful stop with nothing lost: SIGTERM to the primary, SIGINT to the whole process group (pm2), SIGTERM to
 *   one worker;
 * - a worker killed with SIGKILL under load;
 * - the lock directory removed while the server runs;
 * - --rejects FILE (refused frames kept as JSON lines);
 * - a torn last line left by a crash is moved out of the target at start;
 * - SIGHUP reopens the target (logrotate's move-then-HUP);
 * - a full disk (a real 256 KiB tmpfs): entries kept in memory, everything lands once space is back.
 *
 * Every scenario runs single-process and --multithreaded --workers 2, except those about workers.
 */
import { describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, rmSync } from 'node:fs';
import * as fsp from 'node:fs/promises';
import { basename, join } from 'node:path';
import {
  MODES,
  assertBuilt,
  assertStoppedCleanly,
  endSocket,
  frame,
  run,
  sleep,
  smallFs,
  tempDir,
  waitForLines,
  within,
  type Mode,
} from './helpers';
import {
  assertTag,
  background,
  dial,
  launch,
  lineCount,
  numbered,
  readRecords,
  recordsSoFar,
  troubleLines,
  waitFor,
  writtenOf,
  type Rec,
  type Server,
} from './reliability-helpers';

assertBuilt();

import { b64, goodCase, refusedCase } from './fixtures';

const DRAIN_MS = 5000;
const CLIENTS = 4;
const PER_CLIENT = 10_000;

/** Waits for the server's line that says it reopens `target` (after a SIGHUP): what it writes next goes there. */
async function reopened(server: Server, target: string): Promise<void> {
  await waitFor(
    () => server.stderr().includes(`log-server: reopening ${target}\n`),
    10_000,
    () => `the "reopening" line:\n${server.stderr()}`,
  );
}

/** Exit 0, the summary line says `written`, no stack trace. */
function assertCleanExit(_server: Server, exit: { code: number | null; signal: string | null; stderr: string }, written: number): void {
  assertStoppedCleanly(exit, { written });
}

/** 4 clients × 10,000 records as fast as they go; `stop` is called the moment the last one has exited. The
 * server must exit 0 within the drain timeout with exactly 40,000 whole, distinct, in-order records. */
async function blastThenStop(t: TestContext, mode: Mode, stop: (s: Server) => Promise<string> | string): Promise<void> {
  const dir = await tempDir(t);
  const target = join(dir, 'logs.jsonl');
  const server = await launch(t, { target, multithreaded: mode.multithreaded, args: ['--drain-timeout', String(DRAIN_MS)] });
  const clients = await Promise.all(Array.from({ length: CLIENTS }, (_, k) => numbered(server.port, `c${k}`, PER_CLIENT)));
  for (const c of clients) assert.equal(c.stdout.trim(), String(PER_CLIENT));
  const signalledAt = Date.now();
  const what = await stop(server);
  const exit = await server.waitExit(DRAIN_MS + 10_000, `exit after ${what}`);
  const took = server.exitedAt() - signalledAt;
  t.diagnostic(`${what}: exited ${took} ms later`);
  assertCleanExit(server, exit, CLIENTS * PER_CLIENT);
  // Every client had closed its connection: the drain ends with them, not at its timeout.
  assert.ok(took < DRAIN_MS, `took ${took} ms to stop after ${what}: the drain timeout (${DRAIN_MS} ms) was waited out`);
  const records = await readRecords(target);
  assert.equal(records.length, CLIENTS * PER_CLIENT, `lines in the target after ${what}`);
  for (let k = 0; k < CLIENTS; k++) assertTag(records, `c${k}`, PER_CLIENT);
}

for (const mode of MODES) {
  describe(`${mode.name}: graceful stop loses nothing`, () => {
    test('SIGTERM to the server the moment 4 clients × 10,000 records have exited: exit 0, exactly 40,000 lines', async (t) => {
      await blastThenStop(t, mode, (s) => {
        s.signal('SIGTERM');
        return 'SIGTERM to the primary';
      });
    });

    test('SIGTERM while clients are still sending: stops within the drain timeout; each client has a gapless prefix', async (t) => {
      const dir = await tempDir(t);
      const target = join(dir, 'logs.jsonl');
      const DRAIN = 1000;
      const server = await launch(t, { target, multithreaded: mode.multithreaded, args: ['--drain-timeout', String(DRAIN)] });
      const load = [0, 1].map((k) => background(t, ['load', '127.0.0.1', String(server.port), `busy${k}`, '10']));
      await waitForLines(target, 5000, 15_000);
      // Both clients are sending (one may start long after the other on a loaded machine).
      await waitFor(
        async () => {
          const text = await fsp.readFile(target, 'utf8');
          return text.includes('"tag":"busy0"') && text.includes('"tag":"busy1"');
        },
        30_000,
        () => 'records of both busy0 and busy1',
      );
      const signalledAt = Date.now();
      server.signal('SIGTERM');
      await waitFor(
        () => /^log-server: stopping: /m.test(server.stderr()),
        10_000,
        () => `the "stopping" line:\n${server.stderr()}`,
      );
      const atStop = await lineCount(target);
      // The clients never stop sending: only the drain timeout ends the stop (the bound is the wait's own).
      const exit = await server.waitExit(DRAIN + 10_000, 'exit after SIGTERM with clients still sending');
      const took = server.exitedAt() - signalledAt;
      t.diagnostic(`exited ${took} ms after SIGTERM`);
      for (const l of load) l.kill();
      assert.equal(exit.code, 0, `exit ${exit.code} (signal ${exit.signal}); stderr:\n${exit.stderr}`);
      assert.deepEqual(troubleLines(exit.stderr), [], exit.stderr);
      assert.ok(took >= DRAIN, `stopped ${took} ms after SIGTERM, before the ${DRAIN} ms drain was over`);
      const records = await readRecords(target);
      assert.ok(records.length > atStop, `nothing read during the drain (${atStop} lines when it began)`);
      assert.equal(writtenOf(exit.stderr), records.length, 'summary count vs lines in the file');
      // Everything a client's connection delivered before the stop is written: its records are 0..k-1, no gap.
      for (const tag of ['busy0', 'busy1']) {
        const seqs = records.filter((r) => r.tag === tag).map((r) => r.seq as number);
        assert.ok(seqs.length > 0, `no records of ${tag}`);
        const gap = seqs.findIndex((v, i) => v !== i);
        assert.equal(gap, -1, `${tag}: record ${gap} has seq ${seqs[gap]} (${seqs.length} records)`);
      }
    });

    test('connections the kernel had already completed when SIGTERM comes are served, not reset', async (t) => {
      // SIGSTOP holds the (primary) process so that 50 clients connect, send one record each and half-close
      // while their connections wait in the listen backlog; then SIGTERM and SIGCONT. Every client saw its
      // connect and its write succeed before the stop signal was sent.
      const dir = await tempDir(t);
      const target = join(dir, 'logs.jsonl');
      const server = await launch(t, { target, multithreaded: mode.multithreaded });
      const good = goodCase('record/info', 2);
      const N = 50;
      let resumed = false;
      t.after(() => {
        if (!resumed) server.signal('SIGCONT');
      });
      server.signal('SIGSTOP');
      const sockets = await Promise.all(Array.from({ length: N }, () => dial(t, server.port)));
      await Promise.all(
        sockets.map(
          (s) =>
            new Promise<void>((resolve) => {
              s.on('error', () => {});
              s.resume();
              s.end(frame(b64(good.pickle)), () => resolve());
            }),
        ),
      );
      await sleep(100);
      server.signal('SIGTERM');
      await sleep(50);
      server.signal('SIGCONT');
      resumed = true;
      const exit = await server.waitExit(20_000, 'exit after SIGTERM');
      assert.equal(exit.code, 0, exit.stderr);
      const lines = await lineCount(target);
      assert.equal(
        lines,
        N,
        `${N} clients had connected and sent a record before SIGTERM; ${lines} records were written. stderr:\n${exit.stderr}`,
      );
    });

    test('SIGINT to the whole process group at once (as pm2 does): exit 0, exactly 40,000 lines', async (t) => {
      await blastThenStop(t, mode, (s) => {
        s.signalGroup('SIGINT');
        return 'SIGINT to the process group';
      });
    });
  });
}

describe('multithreaded: workers', () => {
  test('SIGTERM to one worker only stops the whole server gracefully: exit 0, exactly 40,000 lines', async (t) => {
    await blastThenStop(t, MODES[1], async (s) => {
      const workers = await s.workers();
      assert.equal(workers.length, 2, `workers of ${s.pid}: ${workers.join(', ')}`);
      process.kill(workers[0], 'SIGTERM');
      return `SIGTERM to worker ${workers[0]}`;
    });
  });

  test('kill -9 of a worker under load: reported, replaced, the server keeps serving, every line whole JSON', async (t) => {
    const dir = await tempDir(t);
    const target = join(dir, 'logs.jsonl');
    const server = await launch(t, { target, multithreaded: true, args: ['--drain-timeout', String(DRAIN_MS)] });
    const before = await server.workers();
    assert.equal(before.length, 2);
    // Two tolerant clients (plain SocketHandler: drops what it cannot send, reconnects), one per worker.
    const load = [0, 1].map((k) => background(t, ['load', '127.0.0.1', String(server.port), `load${k}`, '4']));
    await waitForLines(target, 3000, 15_000);
    const victim = before[0];
    process.kill(victim, 'SIGKILL');
    const died = new RegExp(`worker ${victim} died.*start`, 'i');
    await waitFor(
      () => died.test(server.stderr()),
      5000,
      () => `stderr to report that worker ${victim} died and a new one starts:\n${server.stderr()}`,
    );
    assert.equal(server.exited, false, `the server stopped after a worker died:\n${server.stderr()}`);

    // A new client, after the kill: every record lands.
    await numbered(server.port, 'after', 2000);
    await waitFor(
      async () => (await recordsSoFar(target)).filter((r) => r.tag === 'after').length >= 2000,
      15_000,
      () => 'the 2000 records sent after the kill',
      100,
    );
    // Back to 2 workers, one of them new.
    const now = await waitFor(
      async () => {
        const w = await server.workers();
        return w.length === 2 && !w.includes(victim) ? w : null;
      },
      10_000,
      () => `2 workers again, without ${victim}`,
      100,
    );
    assert.ok(
      now.some((p) => !before.includes(p)),
      `a new worker was started: before ${before}, now ${now}`,
    );

    for (const l of load) {
      const e = await within(l.exit, 20_000, 'load client to finish');
      assert.equal(e.code, 0, `load client: ${e.stderr}`);
    }
    server.signal('SIGTERM');
    const exit = await server.waitExit(DRAIN_MS + 10_000, 'exit after SIGTERM');
    assert.equal(exit.code, 0, `exit code ${exit.code}; stderr:\n${exit.stderr}`);
    assert.deepEqual(
      troubleLines(exit.stderr).filter((l) => !l.includes('    at ')),
      [],
      exit.stderr,
    );
    const records = await readRecords(target); // every line whole, strict JSON objects
    assertTag(records, 'after', 2000);
    assert.equal(writtenOf(exit.stderr), records.length, 'summary count vs lines in the file');
    // The load clients' records: never duplicated, in order per client (some may be lost around the kill).
    for (const tag of ['load0', 'load1']) {
      const seqs = records.filter((r) => r.tag === tag).map((r) => r.seq as number);
      assert.ok(seqs.length > 0, `no records of ${tag}`);
      for (let i = 1; i < seqs.length; i++) assert.ok(seqs[i] > seqs[i - 1], `${tag}: seq ${seqs[i]} after ${seqs[i - 1]}`);
    }
  });
});

describe('multithreaded: SIGHUP to the whole process group (a closed terminal, kill -HUP -PGID)', () => {
  test('no worker dies, the target is reopened, nothing lost', async (t) => {
    const dir = await tempDir(t);
    const target = join(dir, 'logs.jsonl');
    const rotated = `${target}.1`;
    const server = await launch(t, { target, multithreaded: true });
    const before = (await server.workers()).sort();
    await numbered(server.port, 'before', 300);
    await waitForLines(target, 300, 10_000);
    await fsp.rename(target, rotated);
    server.signalGroup('SIGHUP');
    await reopened(server, target);
    await numbered(server.port, 'after', 300);
    await waitFor(
      async () => (await lineCount(target)) >= 300,
      10_000,
      () => '300 lines in the new target',
    );
    // By now a worker the SIGHUP had killed would have been reported and replaced.
    assert.equal(server.exited, false, `the server exited on SIGHUP:\n${server.stderr()}`);
    assert.deepEqual((await server.workers()).sort(), before, `workers after SIGHUP; stderr:\n${server.stderr()}`);
    server.signal('SIGTERM');
    const exit = await server.waitExit(15_000, 'exit after SIGTERM');
    assertCleanExit(server, exit, 600);
    assert.doesNotMatch(exit.stderr, /died/, exit.stderr);
    assertTag(await readRecords(rotated), 'before', 300, 'target.1');
    assertTag(await readRecords(target), 'after', 300, 'the new target');
  });
});

for (const mode of MODES) {
  describe(`${mode.name}: the lock`, () => {
    test('the lock directory removed while running: "lost the lock", exit 1 on its own, everything received written', async (t) => {
      const dir = await tempDir(t);
      const target = join(dir, 'logs.jsonl');
      const server = await launch(t, { target, multithreaded: mode.multithreaded });
      assert.equal(existsSync(`${target}.lock`), true, 'the lock directory exists while the server runs');
      await numbered(server.port, 'held', 2000);
      const removedAt = Date.now();
      rmSync(`${target}.lock`, { recursive: true, force: true });
      const exit = await server.waitExit(10_000, 'exit on its own after its lock directory was removed');
      t.diagnostic(`exited ${server.exitedAt() - removedAt} ms after the lock was removed`);
      assert.match(exit.stderr, /lost the lock/, exit.stderr);
      assert.equal(exit.stderr.split('\n').filter((l) => /lost the lock/.test(l)).length, 1, `said once:\n${exit.stderr}`);
      assert.equal(exit.code, 1, `exit code ${exit.code} (signal ${exit.signal}); stderr:\n${exit.stderr}`);
      assert.deepEqual(troubleLines(exit.stderr), [], exit.stderr);
      const records = await readRecords(target);
      assertTag(records, 'held', 2000);
      assert.equal(records.length, 2000);
    });
  });
}

/** Writes `frames` over one connection (with a pause between them so each is its own read), then closes it. */
async function sendFrames(t: TestContext, port: number, frames: Buffer[]): Promise<number> {
  const socket = await dial(t, port);
  const localPort = socket.localPort;
  assert.ok(localPort !== undefined);
  for (const f of frames) {
    socket.write(f);
    await sleep(30);
  }
  await endSocket(socket);
  return localPort;
}

const ISO_UTC = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?Z$/;

function assertRejectShape(r: Rec, startedAt: number, client: string): void {
  assert.equal(typeof r.time, 'string', `time: ${JSON.stringify(r)}`);
  assert.match(r.time as string, ISO_UTC, `time is ISO 8601 UTC: ${JSON.stringify(r)}`);
  const at = Date.parse(r.time as string);
  assert.ok(at >= startedAt - 2000 && at <= Date.now() + 2000, `time ${r.time} is not now`);
  assert.equal(r.client, client, `client: ${JSON.stringify(r)}`);
  assert.equal(typeof r.detail, 'string', `detail: ${JSON.stringify(r)}`);
  assert.ok((r.detail as string).length > 0, `empty detail: ${JSON.stringify(r)}`);
}

for (const mode of MODES) {
  describe(`${mode.name}: --rejects FILE`, () => {
    test('garbage and a non-dict are kept as JSON lines with their payload in base64; the good record lands', async (t) => {
      const dir = await tempDir(t);
      const target = join(dir, 'logs.jsonl');
      const rejects = join(dir, 'rejects.jsonl');
      const startedAt = Date.now();
      const server = await launch(t, { target, multithreaded: mode.multithreaded, args: ['--rejects', rejects] });
      const garbage = Buffer.from('this is garbage, not a pickle \u00ff\u00fe\u0000\u0001', 'latin1');
      const notDict = b64(refusedCase('not-a-dict/list/p2').pickle);
      const good = goodCase('record/info', 2);
      const port = await sendFrames(t, server.port, [frame(garbage), frame(notDict), frame(b64(good.pickle))]);
      await waitForLines(target, 1, 10_000);
      await waitFor(
        async () => (await lineCount(rejects)) >= 2,
        10_000,
        () => `2 lines in ${rejects}`,
      );
      server.signal('SIGTERM');
      const exit = await server.waitExit(15_000, 'exit after SIGTERM');
      assert.equal(exit.code, 0, exit.stderr);
      assert.equal(writtenOf(exit.stderr), 1, exit.stderr);

      assert.deepEqual((await fsp.readFile(target, 'utf8')).split('\n'), [good.line, '']);
      const lines = await readRecords(rejects);
      assert.equal(lines.length, 2, `lines in ${rejects}:\n${JSON.stringify(lines, null, 1)}`);
      const [first, second] = lines;
      for (const r of lines) assertRejectShape(r, startedAt, `127.0.0.1:${port}`);
      assert.equal(first.reason, 'bad-pickle');
      assert.equal(first.frame, garbage.toString('base64'));
      assert.equal(second.reason, 'not-a-dict');
      assert.equal(second.frame, notDict.toString('base64'));
      assert.deepEqual(Object.keys(first).slice(0, 5), ['time', 'client', 'reason', 'detail', 'frame'], 'key order');
    });

    test('frame-too-large keeps the announced length and no frame; truncated-frame the bytes that arrived and the length', async (t) => {
      const dir = await tempDir(t);
      const target = join(dir, 'logs.jsonl');
      const rejects = join(dir, 'rejects.jsonl');
      const startedAt = Date.now();
      const server = await launch(t, { target, multithreaded: mode.multithreaded, args: ['--rejects', rejects, '--max-frame', '1000'] });
      const head = (n: number) => {
        const b = Buffer.alloc(4);
        b.writeUInt32BE(n);
        return b;
      };
      // Announces 5000 bytes (over --max-frame 1000): closed by the server.
      const big = await dial(t, server.port);
      const bigPort = big.localPort;
      await endSocket(big, Buffer.concat([head(5000), Buffer.alloc(20, 0x41)]));
      // Announces 300 bytes, sends 120, closes.
      const arrived = Buffer.from(Array.from({ length: 120 }, (_, i) => (i * 7 + 3) & 0xff));
      const trunc = await dial(t, server.port);
      const truncPort = trunc.localPort;
      await endSocket(trunc, Buffer.concat([head(300), arrived]));

      await waitFor(
        async () => (await lineCount(rejects)) >= 2,
        10_000,
        () => `2 lines in ${rejects}`,
      );
      server.signal('SIGTERM');
      const exit = await server.waitExit(15_000, 'exit after SIGTERM');
      assert.equal(exit.code, 0, exit.stderr);
      const lines = await readRecords(rejects);
      assert.equal(lines.length, 2, `lines in ${rejects}:\n${JSON.stringify(lines, null, 1)}`);
      const tooLarge = lines.find((r) => r.reason === 'frame-too-large');
      const truncated = lines.find((r) => r.reason === 'truncated-frame');
      assert.ok(tooLarge, `no frame-too-large line: ${JSON.stringify(lines)}`);
      assert.ok(truncated, `no truncated-frame line: ${JSON.stringify(lines)}`);
      assertRejectShape(tooLarge, startedAt, `127.0.0.1:${bigPort}`);
      assert.equal(tooLarge.length, 5000);
      assert.equal('frame' in tooLarge, false, `frame-too-large has a "frame": ${JSON.stringify(tooLarge)}`);
      assertRejectShape(truncated, startedAt, `127.0.0.1:${truncPort}`);
      assert.equal(truncated.length, 300);
      assert.equal(truncated.frame, arrived.toString('base64'));
      assert.equal(await lineCount(target), 0);
    });

    test('a frame cut off by the stop (drain timeout) is kept as truncated-frame, in the file before the server exits', async (t) => {
      const dir = await tempDir(t);
      const target = join(dir, 'logs.jsonl');
      const rejects = join(dir, 'rejects.jsonl');
      const startedAt = Date.now();
      const server = await launch(t, { target, multithreaded: mode.multithreaded, args: ['--rejects', rejects, '--drain-timeout', '500'] });
      const socket = await dial(t, server.port);
      const port = socket.localPort;
      socket.on('error', () => {});
      socket.resume();
      const good = goodCase('record/info', 2);
      const head = Buffer.alloc(4);
      head.writeUInt32BE(300);
      const arrived = Buffer.from('a frame that never ends ('.repeat(4), 'latin1');
      socket.write(Buffer.concat([frame(b64(good.pickle)), head, arrived]));
      await waitForLines(target, 1, 10_000);
      server.signal('SIGTERM');
      const exit = await server.waitExit(15_000, 'exit after SIGTERM');
      assert.equal(exit.code, 0, exit.stderr);
      assert.equal(writtenOf(exit.stderr), 1, exit.stderr);
      const lines = await readRecords(rejects);
      assert.equal(lines.length, 1, `lines in ${rejects}: ${JSON.stringify(lines)}`);
      assertRejectShape(lines[0], startedAt, `127.0.0.1:${port}`);
      assert.equal(lines[0].reason, 'truncated-frame');
      assert.equal(lines[0].length, 300);
      assert.equal(lines[0].frame, arrived.toString('base64'));
    });

    test('a torn last line left in the rejects file by a crash does not swallow the next entry', async (t) => {
      const dir = await tempDir(t);
      const target = join(dir, 'logs.jsonl');
      const rejects = join(dir, 'rejects.jsonl');
      const torn = '{"time":"2026-01-01T00:00:00.000Z","client":"127.0.0.1:1","reason":"bad-pi';
      await fsp.writeFile(rejects, torn);
      const server = await launch(t, { target, multithreaded: mode.multithreaded, args: ['--rejects', rejects] });
      const garbage = Buffer.from('not a pickle after a crash');
      await sendFrames(t, server.port, [frame(garbage)]);
      await waitFor(
        async () => (await fsp.readFile(rejects, 'utf8')).includes(garbage.toString('base64')),
        10_000,
        () => `the new entry in ${rejects}`,
      );
      server.signal('SIGTERM');
      const exit = await server.waitExit(15_000, 'exit after SIGTERM');
      assert.equal(exit.code, 0, exit.stderr);
      const text = await fsp.readFile(rejects, 'utf8');
      assert.ok(text.endsWith('\n'), `${rejects} ends with a partial line: ${JSON.stringify(text.slice(-200))}`);
      const last = text.slice(0, -1).split('\n').pop() ?? '';
      let entry: Rec;
      try {
        entry = JSON.parse(last) as Rec;
      } catch {
        assert.fail(`the new entry is not a JSON line of its own (glued to the torn line?):\n${text}`);
      }
      assert.equal(entry.reason, 'bad-pickle');
      assert.equal(entry.frame, garbage.toString('base64'));
    });
  });
}

for (const mode of MODES) {
  describe(`${mode.name}: a torn last line from a crash`, () => {
    const cases = [
      { name: 'a short one', torn: '{"message":"par' },
      // A big record cut by a crash: the last newline is more than 64 KiB before the end of the file.
      { name: 'one of 200 KB', torn: '{"message":"' + 'big record, cut by a crash '.repeat(7500) },
    ];
    for (const { name, torn } of cases) {
      test(`${name} is moved out to <target>.torn-*, reported ("cut"); new records follow the whole lines`, async (t) => {
        const dir = await tempDir(t);
        const target = join(dir, 'logs.jsonl');
        const whole = [goodCase('record/info', 2).line, goodCase('record/warning', 2).line];
        await fsp.writeFile(target, whole.join('\n') + '\n' + torn);
        const server = await launch(t, { target, multithreaded: mode.multithreaded });
        await waitFor(
          () => /cut/.test(server.stderr()),
          5000,
          () => `stderr to report the cut line:\n${server.stderr()}`,
        );
        await numbered(server.port, 'new', 5);
        await waitFor(
          async () => (await lineCount(target)) >= 7,
          10_000,
          () => `7 lines in the target`,
        );
        server.signal('SIGTERM');
        const exit = await server.waitExit(15_000, 'exit after SIGTERM');
        assertCleanExit(server, exit, 5);

        const text = await fsp.readFile(target, 'utf8');
        const lines = text.split('\n');
        assert.equal(lines.pop(), '', 'the target ends with a newline');
        assert.equal(lines.length, 7, `lines:\n${text.slice(0, 2000)}`);
        assert.deepEqual(lines.slice(0, 2), whole, 'the whole lines are kept as they were');
        assertTag(await readRecords(target), 'new', 5);
        const tornFiles = (await fsp.readdir(dir)).filter((f) => f.startsWith(`${basename(target)}.torn-`));
        assert.equal(tornFiles.length, 1, `files in ${dir}: ${(await fsp.readdir(dir)).join(', ')}`);
        assert.equal(await fsp.readFile(join(dir, tornFiles[0]), 'utf8'), torn);
      });
    }
  });
}

for (const mode of MODES) {
  describe(`${mode.name}: SIGHUP reopens the target (logrotate: move, then HUP)`, () => {
    test('records before the move stay in target.1, later ones go to the new target', async (t) => {
      const dir = await tempDir(t);
      const target = join(dir, 'logs.jsonl');
      const rotated = `${target}.1`;
      const server = await launch(t, { target, multithreaded: mode.multithreaded });
      await numbered(server.port, 'before', 500);
      await waitForLines(target, 500, 10_000);
      await fsp.rename(target, rotated);
      server.signal('SIGHUP');
      await reopened(server, target);
      assert.equal(server.exited, false, `the server exited on SIGHUP:\n${server.stderr()}`);
      await numbered(server.port, 'after', 500);
      await waitFor(
        async () => (await lineCount(target)) >= 500,
        10_000,
        () => `500 lines in the new target (has ${existsSync(target) ? 'some' : 'none'})`,
      );
      server.signal('SIGTERM');
      const exit = await server.waitExit(15_000, 'exit after SIGTERM');
      assertCleanExit(server, exit, 1000);
      const old = await readRecords(rotated);
      assert.equal(old.length, 500, 'lines in target.1');
      assertTag(old, 'before', 500, 'target.1');
      const fresh = await readRecords(target);
      assert.equal(fresh.length, 500, 'lines in the new target');
      assertTag(fresh, 'after', 500, 'the new target');
    });

    test('while a client sends continuously: exact totals across both files, in order, none split', async (t) => {
      const dir = await tempDir(t);
      const target = join(dir, 'logs.jsonl');
      const rotated = `${target}.1`;
      const server = await launch(t, { target, multithreaded: mode.multithreaded });
      const N = 4000;
      const flow = background(t, ['numbered', '127.0.0.1', String(server.port), 'flow', String(N), '0', '0.5']);
      await waitFor(
        async () => (await lineCount(target)) >= 800,
        15_000,
        () => '800 lines before the move',
      );
      await fsp.rename(target, rotated);
      server.signal('SIGHUP');
      const e = await within(flow.exit, 30_000, 'the sending client to finish');
      assert.equal(e.code, 0, `client: exit ${e.code}\n${e.stderr}\nserver:\n${server.stderr()}`);
      await waitFor(
        async () => (await lineCount(rotated)) + (await lineCount(target)) >= N,
        15_000,
        () => `${N} lines in target.1 + target`,
      );
      server.signal('SIGTERM');
      const exit = await server.waitExit(15_000, 'exit after SIGTERM');
      assertCleanExit(server, exit, N);
      const old = await readRecords(rotated);
      const fresh = existsSync(target) ? await readRecords(target) : [];
      t.diagnostic(`target.1: ${old.length} records, new target: ${fresh.length}`);
      assert.ok(old.length >= 800, `target.1 has ${old.length} records`);
      assert.ok(
        fresh.length > 0,
        'the new target got nothing: the client had finished before the reopen, or the server kept writing to target.1',
      );
      assertTag([...old, ...fresh], 'flow', N, 'target.1 followed by the new target');
    });
  });
}

/** Largest "N entries kept" count in the write-error lines of `stderr` (null if none names a count). */
function maxKept(stderr: string): number | null {
  let max: number | null = null;
  for (const m of stderr.matchAll(/no space left on device\D*?(\d+) (?:entries|records|lines) kept/gi))
    max = Math.max(max ?? 0, Number(m[1]));
  return max;
}

async function diskFull(
  t: TestContext,
  mode: Mode,
  o: { n: number; args: string[]; maxHeldBytes?: number; clientTimeout?: string },
): Promise<void> {
  let server: Server | undefined;
  const mnt = await smallFs(t, '256k', async () => {
    await server?.kill();
  });
  const target = join(mnt, 'logs.jsonl');
  server = await launch(t, { target, multithreaded: mode.multithreaded, args: o.args });
  const N = o.n;
  const PAD = 100; // ~650-byte lines: 256 KiB hold about 400
  const sender = background(t, ['numbered', '127.0.0.1', String(server.port), 'disk', String(N), String(PAD), '0', o.clientTimeout ?? '1']);
  const s = server;
  const noSpace = () =>
    s
      .stderr()
      .split('\n')
      .filter((l) => /no space left on device/i.test(l));
  await waitFor(
    () => noSpace().length > 0,
    20_000,
    () => `stderr to report the full disk:\n${s.stderr()}`,
  );
  assert.match(noSpace()[0], /kept/, `the write error line should say the entries are kept: ${noSpace()[0]}`);
  assert.equal(s.exited, false, `the server stopped on a full disk:\n${s.stderr()}`);
  if (o.maxHeldBytes !== undefined) {
    // Let the clients send all they can, and the retries report how much is held.
    await waitFor(
      () => noSpace().length >= 2,
      10_000,
      () => `a second write-error report:\n${s.stderr()}`,
    );
  } else {
    await sleep(300);
  }
  const whileFull = await lineCount(target);
  assert.ok(whileFull < N, `all ${N} lines fit in 256 KiB?`);
  const r = await run('mount', ['-o', 'remount,size=64m', mnt], { timeoutMs: 10_000 });
  assert.equal(r.code, 0, `remount: ${r.stderr}`);
  const e = await within(sender.exit, 30_000, 'the sender to finish once space is back');
  assert.equal(e.code, 0, `sender: exit ${e.code}\n${e.stderr}`);
  await waitFor(
    async () => (await lineCount(target)) >= N,
    20_000,
    () => `${N} lines after space came back (retries back off to 5 s)`,
    100,
  );
  s.signal('SIGTERM');
  const exit = await s.waitExit(15_000, 'exit after SIGTERM');
  assertCleanExit(s, exit, N);
  const records = await readRecords(target); // no partial line, each line a JSON object
  assert.equal(records.length, N);
  assertTag(records, 'disk', N);
  if (o.maxHeldBytes !== undefined) {
    const kept = maxKept(exit.stderr);
    assert.ok(kept !== null, `no "N entries kept" count in the write-error lines:\n${noSpace().join('\n')}`);
    const lineBytes = (await fsp.stat(target)).size / N;
    t.diagnostic(`at most ${kept} entries (${Math.round((kept * lineBytes) / 1024)} KiB) reported held while the disk was full`);
    assert.ok(kept * lineBytes <= o.maxHeldBytes, `${kept} entries of ~${Math.round(lineBytes)} bytes held, over ${o.maxHeldBytes} bytes`);
  }
}

for (const mode of MODES) {
  describe(`${mode.name}: disk full (a 256 KiB tmpfs)`, () => {
    test('write errors are reported with the entries kept; once space is back every record lands once, in order', async (t) => {
      await diskFull(t, mode, { n: 3000, args: [] });
    });

    test('with --max-buffer 1 MiB the clients are held back instead: a bounded backlog, every record lands once, in order', async (t) => {
      // 15,000 lines (~10 MB) against a 1 MiB buffer, the backlog read from the second full "N entries kept"
      // report (about 3 s into the outage, when the clients are held back). What is held may pass --max-buffer by
      // what is on its way: the writev batch in flight is not counted in the buffer (up to another max-buffer,
      // see the report), plus in multithreaded mode up to 8 IPC batches of 256 KiB per worker (and a batch in
      // flight as large as the queue was). Unbounded buffering would hold ~9.5 MB.
      // The client blocks without a timeout: SocketHandler's own 1 s socket timeout would make it drop records
      // itself while held back (the server cannot prevent that; see the report).
      await diskFull(t, mode, {
        n: 15_000,
        args: ['--max-buffer', String(1024 * 1024)],
        maxHeldBytes: (mode.multithreaded ? 7 : 3) * 1024 * 1024,
        clientTimeout: 'none',
      });
    });
  });
}
