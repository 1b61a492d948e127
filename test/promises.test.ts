/**
 * Promises of the README that the scenario files do not reach, one test each, each waiting for the event it is
 * about (a line on stderr, a file's content, an answer) rather than for the wall clock:
 *
 * - flags win over the LOG_SERVER_* environment;
 * - SIGHUP reopens the rejects file at its path, not only the target;
 * - a lock taken over while the process was frozen (SIGSTOP past the stale time) is said, and it stops with exit 1;
 * - the stop line counts the refused frames not kept in the rejects file (it was --max-buffer behind: a full disk);
 * - /healthz says "no worker ready" while no worker is, and such a connection is closed and counted;
 * - an HTTP record over --max-entry is answered 413 too-large and kept whole in the rejects file;
 * - HTTP connections are limited by --max-connections apart from the TCP ones.
 */
import { describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import cluster from 'node:cluster';
import { existsSync } from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as http from 'node:http';
import { join } from 'node:path';
import {
  MODES,
  assertBuilt,
  assertStoppedCleanly,
  cleanEnv,
  connect,
  endSocket,
  frame,
  httpGet,
  occupyPort,
  readLines,
  send,
  smallFs,
  stackLines,
  startCli,
  tempDir,
  waitForLines,
  within,
  type Exit,
  type ServerHandle,
} from './helpers';
import { waitFor } from './reliability-helpers';
import { goodCase } from './fixtures';
import { startServer } from '../src/server/start';
import type { Reporter } from '../src/core/report';

assertBuilt();

const GOOD = goodCase('record/info', 1);
const escapeRe = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** Exit 0, the stop line with `written`, no stack trace. */
function assertStopped(exit: Exit, written: number): void {
  assertStoppedCleanly(exit, { written });
}

/** Sends `frames` over one connection and closes it once the server has closed its side too. */
async function sendFrames(t: TestContext, port: number, frames: Buffer[]): Promise<void> {
  await endSocket(await connect(t, port), Buffer.concat(frames));
}

/** A frame the server refuses as bad-pickle, `size` bytes of payload starting with `tag`. */
const garbage = (tag: string, size = 64) => frame(Buffer.concat([Buffer.from(tag), Buffer.alloc(Math.max(0, size - tag.length), 0x41)]));

/** Waits for a line on the server's stderr. */
const said = (server: ServerHandle, re: RegExp, timeoutMs = 15_000) =>
  waitFor(
    () => re.exec(server.stderr()),
    timeoutMs,
    () => `${re} on stderr:\n${server.stderr()}`,
  );

describe('options', () => {
  test('flags win over LOG_SERVER_*: port, target, mode and --utc given both ways take the flag', async (t) => {
    const dir = await tempDir(t);
    const fromEnv = join(dir, 'env.jsonl');
    const fromFlag = join(dir, 'flag.jsonl');
    const taken = await occupyPort(t);
    const server = await startCli(t, {
      rawArgs: ['--host', '127.0.0.1', '--port', '0', '--target', fromFlag, '--multithreaded=false', '--utc'],
      // Local time half an hour off UTC: a created_human in local time would show.
      env: cleanEnv({
        TZ: 'Asia/Kolkata',
        LOG_SERVER_PORT: String(taken),
        LOG_SERVER_TARGET: fromEnv,
        LOG_SERVER_MULTITHREADED: 'true',
        LOG_SERVER_WORKERS: '3',
        LOG_SERVER_UTC: 'false',
      }),
    });
    assert.notEqual(server.port, taken);
    assert.equal(server.writing, fromFlag);
    assert.equal(server.modeText, 'single-process');
    await sendFrames(t, server.port, [frame(Buffer.from(GOOD.pickle, 'base64'))]);
    await waitForLines(fromFlag, 1);
    const exit = await server.stop('SIGTERM');
    assertStopped(exit, 1);
    // The fixture's line is made with created_human in UTC.
    assert.deepEqual(await readLines(fromFlag), [GOOD.line]);
    assert.equal(existsSync(fromEnv), false, 'the target named in the environment was created');
  });
});

for (const mode of MODES) {
  describe(`${mode.name}: SIGHUP and the rejects file`, () => {
    test('SIGHUP reopens the rejects file at its path: refused frames before the move stay in the moved file, later ones go to the new one', async (t) => {
      const dir = await tempDir(t);
      const target = join(dir, 'logs.jsonl');
      const rejects = join(dir, 'rejects.jsonl');
      const server = await startCli(t, { target, multithreaded: mode.multithreaded, args: ['--rejects', rejects] });
      await sendFrames(t, server.port, [garbage('before')]);
      await waitForLines(rejects, 1);
      await fsp.rename(rejects, `${rejects}.1`);
      server.proc.kill('SIGHUP');
      await said(server, new RegExp(`^log-server: reopening ${escapeRe(target)} and ${escapeRe(rejects)}$`, 'm'));
      await sendFrames(t, server.port, [garbage('after')]);
      await waitForLines(rejects, 1);
      const exit = await server.stop('SIGTERM');
      assertStopped(exit, 0);
      const tags = async (file: string) =>
        (await readLines(file)).map((l) =>
          Buffer.from(String((JSON.parse(l) as { frame: string }).frame), 'base64')
            .toString()
            .replace(/A+$/, ''),
        );
      assert.deepEqual(await tags(`${rejects}.1`), ['before']);
      assert.deepEqual(await tags(rejects), ['after']);
    });
  });

  describe(`${mode.name}: the lock taken over while the server was frozen`, () => {
    test('SIGSTOP past the stale time, a second server takes the lock; on SIGCONT the first says it lost the lock and exits 1', async (t) => {
      const dir = await tempDir(t);
      const target = join(dir, 'logs.jsonl');
      const first = await startCli(t, { target, multithreaded: mode.multithreaded });
      await send(['burst', '127.0.0.1', String(first.port), '1', '200']);
      await waitForLines(target, 200);
      // Frozen: its lock is no longer kept fresh. (In multithreaded mode the primary holds the lock.)
      first.proc.kill('SIGSTOP');
      t.after(() => first.proc.kill('SIGCONT'));
      // The second finds the lock held, waits for it to go stale, and takes it over by itself.
      const second = await startCli(t, { target, multithreaded: mode.multithreaded, startTimeoutMs: 30_000 });
      assert.doesNotMatch(second.stderr(), /in use/, second.stderr());
      first.proc.kill('SIGCONT');
      const exit = await within(first.exit, 20_000, `the first server to stop on its own after SIGCONT; stderr:\n${first.stderr()}`);
      assert.equal(exit.code, 1, `exit ${exit.code} (${exit.signal}); stderr:\n${exit.stderr}`);
      assert.equal(exit.stderr.split('\n').filter((l) => /lost the lock/.test(l)).length, 1, exit.stderr);
      assert.match(exit.stderr, /^log-server: .*lost the lock on .*logs\.jsonl/m, exit.stderr);
      assert.deepEqual(stackLines(exit.stderr), [], exit.stderr);
      // The second goes on serving, and holds the lock.
      await send(['burst', '127.0.0.1', String(second.port), '2', '100']);
      await waitForLines(target, 300);
      assert.equal(second.exited, false, second.stderr());
      assert.equal(existsSync(`${target}.lock`), true);
      assertStopped(await second.stop('SIGTERM'), 100);
      const lines = await readLines(target);
      assert.equal(lines.length, 300);
      assert.equal(lines.filter((l) => l.includes('"client":1,')).length, 200);
    });
  });
}

describe('the stop line', () => {
  test('says how many refused frames were not kept because the rejects file was over --max-buffer behind (a full disk)', async (t) => {
    const dir = await tempDir(t);
    const target = join(dir, 'logs.jsonl');
    let server: ServerHandle | undefined;
    const disk = await smallFs(t, '8m', async () => void (await server?.killHard()));
    const rejects = join(disk, 'rejects.jsonl');
    const filler = join(disk, 'filler');
    server = await startCli(t, {
      target,
      args: ['--rejects', rejects, '--max-buffer', String(1024 * 1024), '--max-frame', String(1024 * 1024)],
    });
    // The disk full: every write to the rejects file fails and is retried, its lines kept, until over 1 MiB.
    await fsp.writeFile(filler, Buffer.alloc(8 * 1024 * 1024)).catch((err: NodeJS.ErrnoException) => assert.equal(err.code, 'ENOSPC'));
    const sent = 12;
    await sendFrames(
      t,
      server.port,
      Array.from({ length: sent }, (_, i) => garbage(`big ${i}`, 256 * 1024)),
    );
    await said(server, /^log-server: cannot write to .*rejects\.jsonl: no space left on device/m);
    await said(server, /^log-server: .*rejects\.jsonl is over --max-buffer behind: refused frames are counted but not kept/m);
    // Room again: what was kept is written; then the stop.
    await fsp.rm(filler);
    await said(server, /^log-server: writes to .*rejects\.jsonl succeed again$/m);
    const exit = await server.stop('SIGTERM');
    assertStopped(exit, 0);
    const kept = (await readLines(rejects)).length;
    const m = /^log-server: stopped; .*; refused (\d+) \(bad-pickle \d+\); (\d+) refused frames not kept in the rejects file$/m.exec(
      exit.stderr,
    );
    assert.ok(m, exit.stderr);
    assert.equal(Number(m[1]), sent);
    assert.ok(Number(m[2]) > 0, exit.stderr);
    assert.equal(kept + Number(m[2]), sent, `${kept} kept, ${m[2]} not kept, ${sent} refused`);
  });
});

/** A reporter that keeps every line. */
function capture(): Reporter & { lines: string[] } {
  const lines: string[] = [];
  return { lines, info: (l) => lines.push(l), warn: (_k, l) => lines.push(l) };
}

const get = httpGet;

describe('/healthz in multithreaded mode', () => {
  test('503 "no worker ready" while the only worker is replaced and its replacement not up; a connection then is closed and counted', async (t) => {
    const target = join(await tempDir(t), 'logs.jsonl');
    const reporter = capture();
    const server = await startServer({ port: 0, target, multithreaded: true, workers: 1, udp: false, metricsPort: 0, reporter });
    t.after(() => server.close());
    const mport = Number(/metrics on http:\/\/127\.0\.0\.1:(\d+)\/metrics/.exec(reporter.lines.join('\n'))?.[1]);
    assert.ok(mport > 0, reporter.lines.join('\n'));
    assert.deepEqual(await get(mport, '/healthz'), { status: 200, text: 'ok\n' });
    // The replacement is held (SIGSTOP) from its first instant, before it can say it is ready.
    const held: number[] = [];
    const onFork = (w: import('node:cluster').Worker) => {
      w.process.kill('SIGSTOP');
      held.push(w.process.pid!);
    };
    cluster.on('fork', onFork);
    t.after(() => {
      cluster.off('fork', onFork);
      for (const pid of held) {
        try {
          process.kill(pid, 'SIGCONT');
        } catch {
          // gone already
        }
      }
    });
    const [only] = Object.values(cluster.workers ?? {});
    assert.ok(only);
    only.process.kill('SIGKILL');
    await waitFor(
      () => held.length === 1,
      10_000,
      () => `a replacement forked; lines:\n${reporter.lines.join('\n')}`,
    );
    assert.ok(
      reporter.lines.some((l) => /^worker \d+ died \(SIGKILL\)/.test(l)),
      reporter.lines.join('\n'),
    );
    const health = await get(mport, '/healthz');
    assert.equal(health.status, 503, health.text);
    assert.match(health.text, /no worker ready/);
    // A connection now has no worker to go to: closed at once, said and counted.
    const socket = await connect(t, server.address.port);
    await within(new Promise((r) => socket.resume().once('close', r)), 10_000, 'the server to close a connection no worker can take');
    assert.ok(
      reporter.lines.some((l) => /^no worker ready for the connection from 127\.0\.0\.1; closing it$/.test(l)),
      reporter.lines.join('\n'),
    );
    assert.match((await get(mport, '/metrics')).text, /^log_server_connections_refused_total\{reason="no-worker"\} 1$/m);
    // Let it go: once it is ready, healthy again, and records land.
    process.kill(held[0], 'SIGCONT');
    await waitFor(
      async () => (await get(mport, '/healthz')).status === 200,
      20_000,
      () => 'healthy again once the replacement is up',
    );
    await send(['burst', '127.0.0.1', String(server.address.port), '3', '10']);
    const summary = await server.close();
    assert.equal(summary.written, 10);
    assert.equal((await readLines(target)).length, 10);
  });
});

describe('HTTP limits', () => {
  test('a record over --max-entry is answered 413 too-large, counted, and kept whole in the rejects file', async (t) => {
    const dir = await tempDir(t);
    const target = join(dir, 'logs.jsonl');
    const rejects = join(dir, 'rejects.jsonl');
    const server = await startCli(t, { target, args: ['--http-port', '0', '--max-entry', '1024', '--rejects', rejects] });
    const httpPort = Number((await said(server, /^log-server: also listening on .*http:\/\/127\.0\.0\.1:(\d+)\/log/m))[1]);
    const body = new URLSearchParams({ created: '1700000000', msg: 'y'.repeat(2000) }).toString();
    const r = await fetch(`http://127.0.0.1:${httpPort}/log`, {
      method: 'POST',
      body,
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      signal: AbortSignal.timeout(5000),
    });
    assert.equal(r.status, 413);
    assert.match(await r.text(), /^too-large: /);
    const small = await fetch(`http://127.0.0.1:${httpPort}/log?created=1700000000&msg=fits`, { signal: AbortSignal.timeout(5000) });
    assert.equal(small.status, 200);
    await waitForLines(rejects, 1);
    const exit = await server.stop('SIGTERM');
    assertStopped(exit, 1);
    assert.match(exit.stderr, /; refused 1 \(too-large 1\); received tcp 0, udp 0, http 2 \(1 refused\)$/m);
    const [kept] = (await readLines(rejects)).map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.equal(kept.input, 'http');
    assert.equal(kept.reason, 'too-large');
    assert.equal(Buffer.from(String(kept.frame), 'base64').toString(), body);
  });

  test('HTTP connections are limited by --max-connections apart from the TCP ones', async (t) => {
    const dir = await tempDir(t);
    const target = join(dir, 'logs.jsonl');
    const server = await startCli(t, { target, args: ['--http-port', '0', '--max-connections', '2', '--http-idle-timeout', '60000'] });
    const httpPort = Number((await said(server, /^log-server: also listening on .*http:\/\/127\.0\.0\.1:(\d+)\/log/m))[1]);
    // Two TCP connections, each with a record landed (so both are served), take every TCP slot: a third is closed.
    const tcp = [await connect(t, server.port), await connect(t, server.port)];
    tcp.forEach((s) => s.write(frame(Buffer.from(GOOD.pickle, 'base64'))));
    await waitForLines(target, 2);
    const third = await connect(t, server.port);
    await within(new Promise((r) => third.resume().once('close', r)), 10_000, 'the server to close a third TCP connection');
    await said(server, /max-connections/);
    // HTTP still takes two connections of its own (kept alive), and closes a third.
    const agents = [new http.Agent({ keepAlive: true, maxSockets: 1 }), new http.Agent({ keepAlive: true, maxSockets: 1 })];
    t.after(() => agents.forEach((a) => a.destroy()));
    const post = (agent: http.Agent | false, n: number) =>
      within(
        new Promise<number>((resolve, reject) => {
          const req = http.request(
            { host: '127.0.0.1', port: httpPort, method: 'GET', path: `/log?created=1700000000&msg=http+${n}`, agent },
            (res) => {
              res.resume();
              res.on('end', () => resolve(res.statusCode ?? 0));
            },
          );
          req.on('error', reject);
          req.end();
        }),
        10_000,
        `HTTP request ${n}`,
      );
    assert.equal(await post(agents[0], 1), 200);
    assert.equal(await post(agents[1], 2), 200);
    await assert.rejects(post(false, 3), /socket hang up|ECONNRESET/);
    assert.equal(await post(agents[0], 4), 200, 'a kept-alive connection goes on being served');
    for (const s of tcp) await endSocket(s);
    agents.forEach((a) => a.destroy());
    const exit = await server.stop('SIGTERM');
    assertStopped(exit, 5);
    assert.deepEqual((await readLines(target)).filter((l) => l.includes('"msg":"http ')).length, 3);
  });
});
