/**
 * Hostile input: the built CLI (dist/cli.js) against raw TCP clients that lie about lengths, send pickles that
 * would run code, every kind of refused frame, floods, too many or idle connections, and random bytes and
 * mutations of real frames, with real python3 SocketHandler clients alongside to prove that good records still
 * land, exactly. Every scenario runs single-process and --multithreaded --workers 2.
 */
import { describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { MODES, assertBuilt, assertStoppedCleanly, endSocket, frame, sleep, tempDir, waitForLines, within, type Mode } from './helpers';
import {
  assertTag,
  background,
  dial,
  client,
  launch,
  lineCount,
  numbered,
  readRecords,
  recordsSoFar,
  waitFor,
  writtenOf,
  type Server,
} from './reliability-helpers';

assertBuilt();

import { b64, decoderCases, goodCase, refusedCase } from './fixtures';
import { DEFAULTS } from '../src/config/options';
const GOOD = goodCase('record/info', 2);
const GOOD2 = goodCase('record/warning', 2);

/** A bare 4-byte big-endian length prefix. */
function head(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0);
  return b;
}

/** Resolves (true) when `socket` is closed — by the server, since these tests never close it first. */
function closedBy(socket: net.Socket): { closed: Promise<true>; readonly isClosed: boolean } {
  let isClosed = false;
  socket.on('error', () => {});
  socket.resume();
  const closed = new Promise<true>((resolve) =>
    socket.once('close', () => {
      isClosed = true;
      resolve(true);
    }),
  );
  return {
    closed,
    get isClosed() {
      return isClosed;
    },
  };
}

const escapeRe = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

async function stopClean(server: Server, written?: number): Promise<string> {
  assert.equal(server.exited, false, `the server is gone:\n${server.stderr()}`);
  server.signal('SIGTERM');
  const exit = await server.waitExit(20_000, 'exit after SIGTERM');
  assertStoppedCleanly(exit, { written });
  assert.doesNotMatch(exit.stderr, /died/, `a worker died:\n${exit.stderr}`);
  return exit.stderr;
}

function hostile(mode: Mode) {
  const serve = (t: TestContext, target: string, args: string[] = []) => launch(t, { target, multithreaded: mode.multithreaded, args });

  test('(a) a length prefix over --max-frame closes that connection at once, names client and length; others go on', async (t) => {
    const dir = await tempDir(t);
    const target = join(dir, 'logs.jsonl');
    const server = await serve(t, target, ['--max-frame', '1000']);
    const good = await dial(t, server.port);
    const goodState = closedBy(good);
    good.write(frame(b64(GOOD.pickle)));
    await waitForLines(target, 1, 10_000);

    const bad = await dial(t, server.port);
    const badState = closedBy(bad);
    const badPort = bad.localPort;
    const sentAt = Date.now();
    bad.write(Buffer.concat([head(5000), Buffer.alloc(100, 0x41)]));
    await within(badState.closed, 5000, 'the server to close the connection that announced 5000 bytes');
    const took = Date.now() - sentAt;
    assert.ok(took < 2000, `closed ${took} ms after the prefix, not at once`);
    const named = new RegExp(`127\\.0\\.0\\.1:${badPort}\\b.*\\b5000\\b`);
    await waitFor(
      () => named.test(server.stderr()),
      5000,
      () => `a stderr line naming 127.0.0.1:${badPort} and 5000:\n${server.stderr()}`,
    );

    // The other connection was not touched, and new ones are served.
    assert.equal(goodState.isClosed, false, 'the good connection was closed too');
    good.write(frame(b64(GOOD2.pickle)));
    await waitForLines(target, 2, 10_000);
    const other = await dial(t, server.port);
    await endSocket(other, frame(b64(GOOD.pickle)));
    await endSocket(good);
    const lines = await waitForLines(target, 3, 10_000);
    assert.deepEqual(lines, [GOOD.line, GOOD2.line, GOOD.line]);
    const stderr = await stopClean(server, 3);
    assert.match(stderr, /refused 1 \(frame-too-large 1\)/, stderr);
  });

  test('(a) a length prefix over --max-frame that arrives split over two reads is refused once, as frame-too-large', async (t) => {
    const dir = await tempDir(t);
    const target = join(dir, 'logs.jsonl');
    const rejects = join(dir, 'rejects.jsonl');
    const server = await serve(t, target, ['--max-frame', '1000', '--rejects', rejects]);
    const bad = await dial(t, server.port);
    const badState = closedBy(bad);
    const prefix = head(0x00100000); // 1 MiB, over --max-frame 1000
    bad.write(prefix.subarray(0, 2));
    await sleep(100); // its own TCP segment, its own read
    bad.write(prefix.subarray(2));
    await within(badState.closed, 5000, 'the server to close the connection that announced 1 MiB');
    await waitFor(
      async () => (await lineCount(rejects)) >= 1,
      5000,
      () => `a line in ${rejects}`,
    );
    await sleep(300);
    const other = await dial(t, server.port);
    await endSocket(other, frame(b64(GOOD.pickle)));
    await waitForLines(target, 1, 10_000);
    const stderr = await stopClean(server, 1);
    const kept = (await readRecords(rejects)).map((r) => `${String(r.reason)} ${String(r.length)}`);
    assert.deepEqual(kept, [`frame-too-large ${0x00100000}`], `rejects file: one frame, one reason; stderr:\n${stderr}`);
    assert.match(stderr, /refused 1 \(frame-too-large 1\)/, stderr);
  });

  test('(b) a 4 GiB length prefix with 10 bytes behind it costs no memory; other clients land', async (t) => {
    const dir = await tempDir(t);
    const target = join(dir, 'logs.jsonl');
    const server = await serve(t, target, ['--max-frame', '4294967295', '--drain-timeout', '1000']);
    // Warm up the decoders and buffers first (two clients at once: one per worker in multithreaded mode).
    await Promise.all([numbered(server.port, 'warm0', 500), numbered(server.port, 'warm1', 500)]);
    await waitForLines(target, 1000, 10_000);
    await sleep(300);
    const base = await server.memoryKb();

    const liar = await dial(t, server.port);
    const liarState = closedBy(liar);
    liar.write(Buffer.concat([head(0xffffffff), Buffer.from('0123456789')]));
    await sleep(1000);
    const held = await server.memoryKb();
    await numbered(server.port, 'other', 1000);
    await waitForLines(target, 2000, 10_000);
    const after = await server.memoryKb();
    const mb = (kb: number) => (kb / 1024).toFixed(1);
    t.diagnostic(
      `RSS ${mb(base.rss)} → ${mb(held.rss)} → ${mb(after.rss)} MB; VmSize ${mb(base.size)} → ${mb(held.size)} → ${mb(after.size)} MB`,
    );
    assert.equal(server.exited, false);
    assert.equal(liarState.isClosed, false, 'the server closed a connection whose prefix is within --max-frame');
    assert.ok(held.rss - base.rss < 4 * 1024, `RSS grew by ${mb(held.rss - base.rss)} MB after a 4 GiB prefix + 10 bytes`);
    // Summed over the processes, with 1000 more records decoded meanwhile: some growth is the records' own.
    assert.ok(after.rss - base.rss < 16 * 1024, `RSS grew by ${mb(after.rss - base.rss)} MB (4 GiB prefix pending, 1000 more records)`);
    // Untouched pages would not show in RSS: a 4 GiB buffer allocated up front would still show in VmSize.
    assert.ok(held.size - base.size < 1024 * 1024, `VmSize grew by ${mb(held.size - base.size)} MB`);
    assert.ok(after.size - base.size < 1024 * 1024, `VmSize grew by ${mb(after.size - base.size)} MB`);
    const records = await readRecords(target);
    assertTag(records, 'other', 1000);
    liar.destroy();
    const stderr = await stopClean(server, 2000);
    assert.match(stderr, /truncated-frame 1/, stderr);
  });

  test('(c) a pickle that calls os.system is refused (not-a-dict) or written as data; nothing runs; the connection goes on', async (t) => {
    const dir = await tempDir(t);
    const target = join(dir, 'logs.jsonl');
    const server = await serve(t, target);
    const marks = [0, 1, 2].map(() => join(tmpdir(), `log-server-pwned-${process.pid}-${randomBytes(6).toString('hex')}`));
    t.after(() => {
      for (const m of marks) rmSync(m, { force: true });
    });
    const reduce = Buffer.from(`cos\nsystem\n(S'touch ${marks[0]}'\ntR.`, 'latin1');
    // The same call inside a record dict: a well-formed record whose `payload` names os.system.
    const inRecord = Buffer.from(
      `(dp0\nS'created'\np1\nF1695651604.501\nsS'msg'\np2\nS'carrier'\np3\nsS'payload'\np4\ncos\nsystem\np5\n(S'touch ${marks[1]}'\np6\ntp7\nRp8\ns.`,
      'latin1',
    );
    // subprocess.call via protocol 2 opcodes (GLOBAL, TUPLE1, REDUCE), as the record itself.
    const p2 = Buffer.concat([
      Buffer.from('\x80\x02csubprocess\ncall\nq\x00', 'latin1'),
      Buffer.from('X', 'latin1'),
      (() => {
        const cmd = Buffer.from(`touch ${marks[2]}`);
        const len = Buffer.alloc(4);
        len.writeUInt32LE(cmd.length);
        return Buffer.concat([len, cmd]);
      })(),
      Buffer.from('\x85R.', 'latin1'),
    ]);
    const socket = await dial(t, server.port);
    for (const f of [reduce, inRecord, p2]) {
      socket.write(frame(f));
      await sleep(30);
    }
    socket.write(frame(b64(GOOD.pickle)));
    await endSocket(socket);
    const lines = await waitForLines(target, 2, 10_000);
    await sleep(500);
    for (const m of marks) assert.equal(existsSync(m), false, `${m} was created: a pickle ran code`);
    assert.equal(lines.length, 2, `lines:\n${lines.join('\n')}`);
    const carrier = JSON.parse(lines[0]) as { message: string; payload: { __class__: string; args: unknown } };
    assert.equal(carrier.message, 'carrier');
    assert.equal(carrier.payload.__class__, 'os.system', lines[0]);
    assert.deepEqual(carrier.payload.args, [`touch ${marks[1]}`], lines[0]);
    assert.equal(lines[1], GOOD.line, 'the good frame after them');
    const stderr = await stopClean(server, 2);
    assert.match(stderr, /refused 2 \(not-a-dict 2\)/, stderr);
    for (const m of marks) assert.equal(existsSync(m), false, `${m} was created: a pickle ran code`);
  });

  /** One frame of every content refusal over one connection, then a good one; frame-too-large and
   * truncated-frame on connections of their own (both end a connection), then a good one. */
  async function everyRefusal(t: TestContext): Promise<{ server: Server; target: string; ports: Record<string, number> }> {
    const dir = await tempDir(t);
    const target = join(dir, 'logs.jsonl');
    const server = await serve(t, target);
    const bomb = b64((await client(['bomb'])).stdout.trim());
    assert.ok(bomb.length < 200_000, `the memo bomb is ${bomb.length} bytes`);
    const content: [string, Buffer][] = [
      ['bad-pickle', b64(refusedCase('bad-pickle/garbage-text').pickle)],
      ['not-a-dict', b64(refusedCase('not-a-dict/str/p2').pickle)],
      ['bad-created', b64(refusedCase('bad-created/missing/p2').pickle)],
      ['too-deep', b64(refusedCase('too-deep/lists-150/p2').pickle)],
      ['cyclic', b64(refusedCase('cyclic/list-contains-itself/p2').pickle)],
      ['too-large', bomb],
    ];
    const ports: Record<string, number> = {};
    const socket = await dial(t, server.port);
    for (const [code, payload] of content) {
      ports[code] = socket.localPort!;
      socket.write(frame(payload));
      await sleep(20);
    }
    socket.write(frame(b64(GOOD.pickle)));
    await waitForLines(target, 1, 10_000);
    await endSocket(socket);

    const tooBig = await dial(t, server.port);
    ports['frame-too-large'] = tooBig.localPort!;
    const tooBigState = closedBy(tooBig);
    tooBig.write(head(DEFAULTS.maxFrame + 1));
    await within(tooBigState.closed, 5000, 'the server to close the connection announcing --max-frame + 1');

    const cut = await dial(t, server.port);
    ports['truncated-frame'] = cut.localPort!;
    await endSocket(cut, Buffer.concat([head(100), Buffer.alloc(10, 0x28)]));

    const last = await dial(t, server.port);
    await endSocket(last, frame(b64(GOOD2.pickle)));
    const lines = await waitForLines(target, 2, 10_000);
    assert.deepEqual(lines, [GOOD.line, GOOD2.line]);
    return { server, target, ports };
  }
  const CODES = ['bad-pickle', 'not-a-dict', 'bad-created', 'too-deep', 'cyclic', 'too-large', 'frame-too-large', 'truncated-frame'];

  test('(d) one frame of every refusal kind: the good frames land, each is counted under its code', async (t) => {
    const { server, target } = await everyRefusal(t);
    const stderr = await stopClean(server, 2);
    const m = /^log-server: stopped; wrote 2 records to .*; refused (\d+) \((.*)\)$/m.exec(stderr);
    assert.ok(m, `summary line:\n${stderr}`);
    assert.equal(Number(m[1]), CODES.length, m[0]);
    const counts = Object.fromEntries(
      m[2].split(', ').map((kv) => [kv.slice(0, kv.lastIndexOf(' ')), Number(kv.slice(kv.lastIndexOf(' ') + 1))]),
    );
    assert.deepEqual(counts, Object.fromEntries(CODES.map((c) => [c, 1])), m[0]);
    assert.equal(await lineCount(target), 2);
  });

  test('(d) one frame of every refusal kind: each is reported while running, naming its code and the client', async (t) => {
    const { server, ports } = await everyRefusal(t);
    const missing = () =>
      CODES.filter((code) => {
        const re = new RegExp(`127\\.0\\.0\\.1:${ports[code]}\\b.*${escapeRe(code)}|${escapeRe(code)}.*127\\.0\\.0\\.1:${ports[code]}\\b`);
        return !server
          .stderr()
          .split('\n')
          .some((l) => re.test(l));
      });
    await waitFor(
      () => missing().length === 0,
      5000,
      () => `a stderr line naming each of ${missing().join(', ')} with its client; stderr:\n${server.stderr()}`,
    ).catch((err: Error) => assert.fail(err.message));
    await stopClean(server, 2);
  });

  test('(e) 5000 garbage frames in about a second: a few bad-pickle lines, the rest counted', async (t) => {
    const dir = await tempDir(t);
    const target = join(dir, 'logs.jsonl');
    const server = await serve(t, target);
    const socket = await dial(t, server.port);
    const N = 5000;
    const garbage = (i: number) => frame(Buffer.from(`garbage frame number ${i}, not a pickle`));
    for (let burst = 0; burst < 10; burst++) {
      socket.write(Buffer.concat(Array.from({ length: N / 10 }, (_, k) => garbage(burst * (N / 10) + k))));
      await sleep(100);
    }
    socket.write(frame(b64(GOOD.pickle)));
    await waitForLines(target, 1, 10_000);
    const refusalLines = () =>
      server
        .stderr()
        .split('\n')
        .filter((l) => /bad-pickle|refused a frame/.test(l));
    // Every refusal is accounted for: printed lines plus the held-back counts.
    const accounted = () =>
      refusalLines().reduce((n, l) => {
        const m = /and (\d+) more bad-pickle/.exec(l);
        return n + (m ? Number(m[1]) : 1);
      }, 0);
    await waitFor(
      () => accounted() >= N,
      6000,
      () => `${N} bad-pickle refusals accounted for on stderr (have ${accounted()}):\n${refusalLines().join('\n')}`,
    );
    assert.equal(accounted(), N, refusalLines().join('\n'));
    assert.ok(refusalLines().length <= 3, `${refusalLines().length} lines about bad-pickle:\n${refusalLines().join('\n')}`);
    assert.ok(
      refusalLines().some((l) => /and \d+ more bad-pickle/.test(l)),
      refusalLines().join('\n'),
    );
    await endSocket(socket);
    const stderr = await stopClean(server, 1);
    assert.match(stderr, new RegExp(`refused ${N} \\(bad-pickle ${N}\\)`), stderr);
  });

  test('(f) --max-connections 5: a 6th connection is closed and reported; a freed slot is usable again', async (t) => {
    const dir = await tempDir(t);
    const target = join(dir, 'logs.jsonl');
    const server = await serve(t, target, ['--max-connections', '5']);
    const five: net.Socket[] = [];
    const states: ReturnType<typeof closedBy>[] = [];
    for (let i = 0; i < 5; i++) {
      const s = await dial(t, server.port);
      states.push(closedBy(s));
      s.write(frame(b64(GOOD.pickle)));
      five.push(s);
    }
    await waitForLines(target, 5, 10_000); // all five are being served
    const sixth = await dial(t, server.port);
    const sixthPort = sixth.localPort;
    const sixthState = closedBy(sixth);
    await within(sixthState.closed, 5000, 'the server to close the 6th connection');
    await waitFor(
      () => new RegExp(`refused a connection from 127\\.0\\.0\\.1:${sixthPort}\\b`).test(server.stderr()),
      5000,
      () => `stderr to report the refused connection:\n${server.stderr()}`,
    );
    assert.match(server.stderr(), /max-connections|already 5/, server.stderr());
    for (const [i, st] of states.entries()) assert.equal(st.isClosed, false, `connection ${i + 1} of 5 was closed`);
    for (const s of five) s.write(frame(b64(GOOD2.pickle)));
    await waitForLines(target, 10, 10_000);

    // Free one slot: a new connection is served again.
    await endSocket(five.shift()!);
    await sleep(300);
    const seventh = await dial(t, server.port);
    const seventhState = closedBy(seventh);
    seventh.write(frame(b64(GOOD.pickle)));
    await waitForLines(target, 11, 10_000);
    assert.equal(seventhState.isClosed, false);
    for (const s of [...five, seventh]) await endSocket(s);
    await stopClean(server, 11);
  });

  test('(g) 500 idle connections and a client sending a byte every 5 ms do not delay a normal client', async (t) => {
    const dir = await tempDir(t);
    const target = join(dir, 'logs.jsonl');
    // All of them come from 127.0.0.1: the per-client limit (test/crowding.test.ts) is raised past them here.
    const server = await serve(t, target, ['--drain-timeout', '1000', '--max-connections-per-client', '1024']);
    const idle: net.Socket[] = [];
    const idleStates: ReturnType<typeof closedBy>[] = [];
    t.after(() => {
      for (const s of idle) s.destroy();
    });
    for (let i = 0; i < 500; i += 50) {
      const batch = await Promise.all(Array.from({ length: 50 }, () => dial(t, server.port)));
      for (const s of batch) {
        idleStates.push(closedBy(s));
        idle.push(s);
      }
    }
    // The slow client: one good frame, a byte every 5 ms.
    const slow = await dial(t, server.port);
    const slowFrame = frame(b64(GOOD2.pickle));
    let at = 0;
    const drip = setInterval(() => {
      if (at < slowFrame.length && !slow.destroyed) slow.write(slowFrame.subarray(at, ++at));
    }, 5);
    t.after(() => clearInterval(drip));
    await sleep(200);

    const started = Date.now();
    await numbered(server.port, 'normal', 1000);
    await waitFor(
      async () => (await recordsSoFar(target)).filter((r) => r.tag === 'normal').length >= 1000,
      10_000,
      () => '1000 records of the normal client',
      50,
    );
    const took = Date.now() - started;
    t.diagnostic(`1000 records landed ${took} ms after the client started (slow client at byte ${at} of ${slowFrame.length})`);
    assert.ok(took < 5000, `the normal client's 1000 records took ${took} ms to land`);
    assert.ok(at < slowFrame.length, 'the slow client had already finished: it did not overlap');
    // The slow client's frame lands too, once complete.
    await waitFor(
      () => at >= slowFrame.length,
      10_000,
      () => 'the slow client to send its last byte',
    );
    await waitFor(
      async () => (await recordsSoFar(target)).some((r) => r.message === (JSON.parse(GOOD2.line) as { message: string }).message),
      5000,
      () => 'the slow frame',
    );
    clearInterval(drip);
    assert.equal(idleStates.filter((s) => s.isClosed).length, 0, 'idle connections were closed');
    assertTag(await readRecords(target), 'normal', 1000);
    for (const s of idle) s.destroy();
    await endSocket(slow);
    await stopClean(server, 1001);
  });

  test('(h) ~8 s of random bytes and mutated frames on raw connections: the server stays up, a real client lands exactly', async (t) => {
    const dir = await tempDir(t);
    const target = join(dir, 'logs.jsonl');
    const server = await serve(t, target, ['--drain-timeout', '1000']);
    // FUZZ_SEED replays a run (its seed is printed); FUZZ_MS fuzzes longer (e.g. locally, 60000).
    const seed = process.env.FUZZ_SEED ? Number(process.env.FUZZ_SEED) >>> 0 : (Date.now() ^ process.pid) >>> 0;
    t.diagnostic(`fuzz seed ${seed}`);
    const rand = mulberry32(seed);
    const pickles = decoderCases.map((c) => b64(c.pickle));
    const FUZZ_MS = Number(process.env.FUZZ_MS ?? 8000);
    const until = Date.now() + FUZZ_MS;
    const stats = { connections: 0, closedByServer: 0, bytes: 0, chunks: 0 };
    const sockets = new Set<net.Socket>();
    t.after(() => {
      for (const s of sockets) s.destroy();
    });

    const fuzzer = async () => {
      while (Date.now() < until) {
        const s = net.connect({ host: '127.0.0.1', port: server.port });
        sockets.add(s);
        let closed = false;
        s.on('error', () => {});
        s.on('close', () => (closed = true));
        s.resume();
        const ok = await new Promise<boolean>((r) => {
          s.once('connect', () => r(true));
          s.once('close', () => r(false));
        });
        if (ok) stats.connections++;
        // Each connection lives for a random number of chunks, then ends (often inside a frame).
        let budget = 1 + ((rand() * 300) | 0);
        while (ok && !closed && Date.now() < until && budget-- > 0) {
          const chunk = fuzzChunk(rand, pickles);
          stats.bytes += chunk.length;
          stats.chunks++;
          if (!s.write(chunk)) {
            await new Promise<void>((r) => {
              const timer = setTimeout(r, Math.max(0, until - Date.now()));
              const done = () => {
                clearTimeout(timer);
                r();
              };
              s.once('drain', done);
              s.once('close', done);
            });
          }
          await sleep(rand() < 0.5 ? 0 : 2);
        }
        if (closed) stats.closedByServer++;
        if (rand() < 0.5) s.end();
        else s.destroy();
        sockets.delete(s);
        await sleep(1);
      }
    };

    const probeTag = `probe-${randomBytes(4).toString('hex')}`;
    let maxRss = 0;
    let maxPid = 0;
    const sampler = setInterval(() => {
      void server.memoryKb().then(({ pids }) => {
        for (const p of pids) {
          const rss = readRss(p);
          if (rss > maxRss) {
            maxRss = rss;
            maxPid = p;
          }
        }
      });
    }, 250);
    t.after(() => clearInterval(sampler));

    // 2000 records about 2 ms apart (~4.5 s): sent while the fuzzing goes on.
    const probe = background(t, ['numbered', '127.0.0.1', String(server.port), probeTag, '2000', '0', String(Math.max(2, FUZZ_MS / 4000))]);
    await Promise.all(Array.from({ length: 4 }, fuzzer));
    for (const s of sockets) s.destroy();
    const pe = await within(probe.exit, 30_000, 'the probe client to finish');
    clearInterval(sampler);
    t.diagnostic(
      `fuzz: ${stats.connections} connections (${stats.closedByServer} closed by the server), ${stats.chunks} chunks, ` +
        `${(stats.bytes / 1e6).toFixed(1)} MB; probe sent in ${pe.ms} ms; max RSS ${(maxRss / 1024).toFixed(0)} MB (pid ${maxPid})`,
    );
    assert.equal(pe.code, 0, `probe client: exit ${pe.code}\n${pe.stderr}\nserver:\n${server.stderr().slice(-3000)}`);
    assert.equal(server.exited, false, `the server died under fuzzing (seed ${seed}):\n${server.stderr().slice(-5000)}`);
    assert.ok(stats.connections > 20 && stats.closedByServer > 0, `the fuzzer itself: ${JSON.stringify(stats)}`);
    assert.ok(pe.ms < FUZZ_MS + 5000 && pe.ms > Math.min(2000, FUZZ_MS / 4), `the probe (${pe.ms} ms) should overlap the fuzzing`);
    await waitFor(
      async () => (await recordsSoFar(target)).filter((r) => r.tag === probeTag).length >= 2000,
      15_000,
      () => `2000 ${probeTag} records`,
      100,
    );
    assert.ok(maxRss < 200 * 1024, `RSS of pid ${maxPid} reached ${(maxRss / 1024).toFixed(0)} MB (seed ${seed})`);
    const stderr = await stopClean(server);
    const records = await readRecords(target); // every line whole strict JSON
    assertTag(records, probeTag, 2000);
    assert.equal(writtenOf(stderr), records.length, 'summary count vs lines');
  });
}

function readRss(pid: number): number {
  try {
    const m = /^VmRSS:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

/** A small seeded PRNG (mulberry32), so that a failing run can be replayed from its seed. */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function randomBuf(rand: () => number, n: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = (rand() * 256) | 0;
  return b;
}

/** One chunk of hostile bytes: random, or a real pickle mutated (bit flips, truncation, splices, lying
 * prefixes, interesting byte values), framed or not. */
function fuzzChunk(rand: () => number, pickles: Buffer[]): Buffer {
  const pick = () => pickles[(rand() * pickles.length) | 0];
  const r = rand();
  if (r < 0.1) return randomBuf(rand, 1 + ((rand() * 2048) | 0)); // raw noise (framing usually lost)
  let p = Buffer.from(pick());
  const mutations = 1 + ((rand() * 3) | 0);
  for (let m = 0; m < mutations; m++) {
    const k = rand();
    if (k < 0.35 && p.length > 0) {
      for (let f = 0, n = 1 + ((rand() * 8) | 0); f < n; f++) {
        const i = (rand() * p.length) | 0;
        p[i] ^= 1 << ((rand() * 8) | 0);
      }
    } else if (k < 0.5 && p.length > 1) {
      p = p.subarray(0, (rand() * p.length) | 0); // truncated pickle
    } else if (k < 0.6) {
      const q = pick(); // splice two pickles
      p = Buffer.concat([p.subarray(0, (rand() * p.length) | 0), q.subarray((rand() * q.length) | 0)]);
    } else if (k < 0.7 && p.length > 0) {
      const i = (rand() * p.length) | 0; // interesting values: huge lengths, memo indexes, opcodes
      const v = [0x00, 0xff, 0x7f, 0x80, 0x2e, 0x28, 0x71, 0x68, 0x72, 0x6a, 0x94, 0x95][(rand() * 12) | 0];
      p[i] = v;
    } else if (k < 0.8 && p.length > 4) {
      const i = (rand() * (p.length - 4)) | 0; // a 4-byte little-endian length inside the pickle
      p.writeUInt32LE([0, 1, 0x7fffffff, 0xffffffff, (rand() * 1e6) | 0][(rand() * 5) | 0] >>> 0, i);
    } else if (k < 0.9) {
      const i = (rand() * p.length) | 0; // duplicated region
      const j = Math.min(p.length, i + ((rand() * 64) | 0));
      p = Buffer.concat([p.subarray(0, j), p.subarray(i, j), p.subarray(j)]);
    }
  }
  const f = rand();
  if (f < 0.7) return frame(p); // correctly framed mutant
  if (f < 0.8) return Buffer.concat([head(p.length + 1 + ((rand() * 100) | 0)), p]); // prefix longer than the body
  if (f < 0.87) return Buffer.concat([head(Math.max(0, p.length - 1 - ((rand() * 10) | 0))), p]); // shorter
  if (f < 0.92) return Buffer.concat([head((rand() * DEFAULTS.maxFrame) | 0), p]); // up to --max-frame
  if (f < 0.95) return Buffer.concat([head(0xffffffff), p]); // over it: the server closes
  return p; // no prefix at all
}

for (const mode of MODES) describe(mode.name, () => hostile(mode));
