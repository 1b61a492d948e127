/**
 * Operating the server: /metrics and /healthz (--metrics-port), and who may connect (--allow).
 * - the counters scraped while records flow match what the clients sent, in both modes (the workers' counters
 *   reach the primary), and a replaced worker's counts stay;
 * - /healthz answers 503 with the reason while the disk is full (a real 256 KiB tmpfs), 200 again once it is not,
 *   and 503 while the server drains on stop;
 * - --allow: a real record frame from 127.0.0.2 lands, a SocketHandler from 127.0.0.1 is refused and reported,
 *   in both modes, and on "::" where IPv4 clients arrive as ::ffff:127.0.0.2;
 * - the warning for a server reachable from other hosts without --allow.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import {
  MODES,
  PYTHON_DIR,
  connect,
  httpGet,
  occupyPort,
  scrapeMetrics,
  within,
  python,
  readLines,
  run,
  runCli,
  sleep,
  smallFs,
  startCli,
  tempDir,
  waitForLines,
  type ServerHandle,
} from './helpers';
import { background, waitFor } from './reliability-helpers';
import { startServer } from '../src/server/start';
import type { Reporter } from '../src/core/report';

const CLIENTS = join(PYTHON_DIR, 'operate_clients.py');

/** The metrics port from the server's "metrics on" line, which follows the "listening" line. */
async function metricsPortOf(s: ServerHandle): Promise<number> {
  const m = await waitFor(
    () => /metrics on http:\/\/127\.0\.0\.1:(\d+)\/metrics/.exec(s.stderr()),
    10_000,
    () => `no "metrics on" line:\n${s.stderr()}`,
  );
  return Number(m[1]);
}

const get = httpGet;
const scrape = scrapeMetrics;

/** Sends COUNT real record frames from a plain socket bound to `source`; returns the bytes sent. */
async function sendFrom(source: string, port: number, tag: string, count: number): Promise<number> {
  const r = await python([CLIENTS, 'from', source, '127.0.0.1', String(port), tag, String(count)]);
  const m = /^sent (\d+) (\d+)$/m.exec(r.stdout);
  assert.ok(m, r.stdout);
  return Number(m[2]);
}

test('multithreaded: the stop summary counts what workers killed with kill -9 had refused', async (t) => {
  const dir = await tempDir(t);
  const server = await startCli(t, { target: join(dir, 'logs.jsonl'), multithreaded: true, workers: 2, args: ['--metrics-port', '0'] });
  const mport = await metricsPortOf(server);
  // Two connections, one per worker (each goes to the worker with the fewest), each with a refused frame (a list).
  const sockets = [await connect(t, server.port), await connect(t, server.port)];
  for (const s of sockets) s.write(Buffer.from('\x00\x00\x00\x02].', 'latin1'));
  await waitFor(
    () => /not-a-dict/.test(server.stderr()),
    5000,
    () => `the refusals reported:\n${server.stderr()}`,
  );
  // The workers report their counters to the primary (every 0.25 s): once /metrics has both, so does the summary.
  await waitFor(
    async () => (await scrapeMetrics(mport)).get('log_server_records_refused_total{input="tcp",reason="not-a-dict"}') === 2,
    10_000,
    () => 'both refusals counted by the primary',
  );
  for (const w of server.workers) process.kill(w, 'SIGKILL');
  // The second death may be folded into "... and 1 more worker-exit" (reports are rate-limited per kind).
  await waitFor(
    () => /died \(SIGKILL\)[\s\S]*(died \(SIGKILL\)|1 more worker-exit)/.test(server.stderr()),
    5000,
    () => `both workers reported dead:\n${server.stderr()}`,
  );
  const exit = await server.stop('SIGINT');
  assert.equal(exit.code, 0, exit.stderr);
  assert.match(exit.stderr, /^log-server: stopped; wrote 0 records to .+; refused 2 \(not-a-dict 2\)$/m);
});

for (const mode of MODES) {
  describe(`${mode.name}: --metrics-port`, () => {
    test('counters scraped while records flow match what the clients sent; /healthz is 200', async (t) => {
      const dir = await tempDir(t);
      const target = join(dir, 'logs.jsonl');
      const server = await startCli(t, { target, multithreaded: mode.multithreaded, args: ['--metrics-port', '0'] });
      const mport = await metricsPortOf(server);
      const N = 6000;
      // Two clients at once, 6000 records each, while /metrics is scraped.
      const senders = ['a', 'b'].map((tag) =>
        background(t, ['from', '127.0.0.1', '127.0.0.1', String(server.port), tag, String(N)], CLIENTS),
      );
      let last = 0;
      let scrapes = 0;
      while (senders.some((s) => !s.exited)) {
        const m = await scrape(mport);
        const received = m.get('log_server_records_received_total{input="tcp"}') ?? 0;
        assert.ok(received >= last, `received went down: ${last} → ${received}`);
        last = received;
        scrapes++;
        assert.equal((await get(mport, '/healthz')).status, 200);
        await sleep(20);
      }
      let bytes = 0;
      for (const s of senders) {
        const e = await s.exit;
        assert.equal(e.code, 0, e.stderr);
        bytes += Number(/^sent \d+ (\d+)$/m.exec(e.stdout)?.[1]);
      }
      await waitForLines(target, 2 * N);
      // A refused frame (a pickle of a list) counts as received and refused.
      const r = await run('python3', [
        '-c',
        `import socket; s=socket.create_connection(("127.0.0.1", ${server.port})); s.sendall(b"\\x00\\x00\\x00\\x02]."); s.close()`,
      ]);
      assert.equal(r.code, 0, r.stderr);
      bytes += 6;
      // Worker counters reach the primary within 0.25 s, each worker's on its own schedule: wait for the last.
      const m = await waitFor(
        async () => {
          const m = await scrape(mport);
          return m.get('log_server_records_refused_total{input="tcp",reason="not-a-dict"}') === 1 &&
            m.get('log_server_connections_total{input="tcp"}') === 3 &&
            m.get('log_server_records_received_total{input="tcp"}') === 2 * N + 1
            ? m
            : null;
        },
        10_000,
        () => `the refused frame, 3 connections and ${2 * N + 1} records received in /metrics`,
      );
      t.diagnostic(`${scrapes} scrapes while sending`);
      assert.ok(scrapes >= 2, 'the clients finished before a scrape: nothing was scraped while records flowed');
      assert.equal(m.get('log_server_records_received_total{input="tcp"}'), 2 * N + 1);
      assert.equal(m.get('log_server_records_written_total'), 2 * N);
      assert.equal(m.get('log_server_bytes_received_total{input="tcp"}'), bytes);
      assert.equal(m.get('log_server_connections_open'), 0);
      assert.equal(m.get('log_server_entries_pending'), 0);
      assert.equal(m.get('log_server_worker_restarts_total'), 0);
      assert.equal(m.get('log_server_healthy'), 1);
      const batches = m.get('log_server_write_batches_total') ?? 0;
      assert.ok(batches >= 1 && batches <= 2 * N, `write batches: ${batches}`);
      assert.equal(m.get('log_server_write_duration_seconds_count'), batches);
      assert.ok((m.get('process_resident_memory_bytes') ?? 0) > 0, 'default process metrics');
      assert.equal((await readLines(target)).length, 2 * N);

      if (mode.multithreaded) {
        // A worker killed: it is replaced and counted, and what it had counted stays in the totals.
        process.kill(server.workers[0], 'SIGKILL');
        const after = await waitFor(
          async () => {
            const m = await scrape(mport);
            return m.get('log_server_worker_restarts_total') === 1 ? m : null;
          },
          10_000,
          () => 'worker_restarts_total 1',
        );
        assert.equal(after.get('log_server_records_received_total{input="tcp"}'), 2 * N + 1);
        assert.equal(after.get('log_server_bytes_received_total{input="tcp"}'), bytes);
      }
      const exit = await server.stop('SIGTERM');
      assert.equal(exit.code, 0, exit.stderr);
    });
  });
}

describe('--metrics-port in use', () => {
  for (const mode of MODES) {
    test(`${mode.name}: one line and exit 1`, async (t) => {
      const dir = await tempDir(t);
      const target = join(dir, 'logs.jsonl');
      const busy = await occupyPort(t);
      const args = [
        '--port',
        '0',
        '--target',
        target,
        '--metrics-port',
        String(busy),
        ...(mode.multithreaded ? ['--multithreaded', '--workers', '2'] : []),
      ];
      const r = await runCli(args);
      assert.equal(r.code, 1);
      assert.equal(
        r.stderr,
        `log-server: metrics: cannot listen on 127.0.0.1:${busy}: the address is already in use (is another server running?)\n`,
      );
    });
  }
});

describe('/healthz', () => {
  test('503 with the reason while the disk is full, 200 once writes succeed again', async (t) => {
    let server: ServerHandle | undefined;
    const mnt = await smallFs(t, '256k', async () => server?.killHard());
    const target = join(mnt, 'logs.jsonl');
    server = await startCli(t, { target, args: ['--metrics-port', '0'] });
    const mport = await metricsPortOf(server);
    assert.deepEqual(await get(mport, '/healthz'), { status: 200, text: 'ok\n' });
    const N = 1500; // ~600-byte lines: about 900 KB against 256 KiB
    const sender = background(t, ['from', '127.0.0.1', '127.0.0.1', String(server.port), 'disk', String(N)], CLIENTS);
    const sick = await waitFor(
      async () => {
        const h = await get(mport, '/healthz');
        return h.status === 503 ? h : null;
      },
      20_000,
      () => '/healthz to answer 503 on a full disk',
    );
    assert.match(
      sick.text,
      new RegExp(`^cannot write to ${target.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: no space left on device; \\d+ entries waiting\\n$`),
    );
    const m = await scrape(mport);
    assert.equal(m.get('log_server_healthy'), 0);
    assert.ok((m.get('log_server_entries_pending') ?? 0) > 0, 'entries pending while the disk is full');
    const e = await sender.exit;
    assert.equal(e.code, 0, e.stderr);
    const r = await run('mount', ['-o', 'remount,size=64m', mnt], { timeoutMs: 10_000 });
    assert.equal(r.code, 0, r.stderr);
    await waitForLines(target, N, 20_000);
    await waitFor(
      async () => (await get(mport, '/healthz')).status === 200,
      10_000,
      () => '/healthz 200 again',
    );
    const after = await scrape(mport);
    assert.equal(after.get('log_server_records_written_total'), N);
    assert.equal(after.get('log_server_entries_pending'), 0);
    assert.equal((await get(mport, '/nope')).status, 404);
    const exit = await server.stop('SIGTERM');
    assert.equal(exit.code, 0, exit.stderr);
  });
});

describe('/healthz while stopping', () => {
  test('503 "not accepting connections" during the drain', async (t) => {
    const dir = await tempDir(t);
    const server = await startCli(t, { target: join(dir, 'logs.jsonl'), args: ['--metrics-port', '0', '--drain-timeout', '3000'] });
    const mport = await metricsPortOf(server);
    // A connection inside a frame holds the drain open until --drain-timeout.
    const socket = await connect(t, server.port);
    socket.on('error', () => {});
    socket.write(Buffer.from([0, 0, 0, 100, 0x80]));
    await waitFor(
      async () => ((await scrape(mport)).get('log_server_bytes_received_total{input="tcp"}') ?? 0) === 5,
      10_000,
      () => 'the 5 bytes read',
    );
    assert.equal((await get(mport, '/healthz')).status, 200);
    server.proc.kill('SIGTERM');
    await waitFor(
      () => /stopping:/.test(server.stderr()),
      10_000,
      () => 'the stopping line',
    );
    assert.deepEqual(await get(mport, '/healthz'), { status: 503, text: 'not accepting connections (starting or stopping)\n' });
    const exit = await within(server.exit, 15_000, 'exit after the drain');
    assert.equal(exit.code, 0, exit.stderr);
  });
});

for (const mode of MODES) {
  describe(`${mode.name}: --allow`, () => {
    test('a frame from 127.0.0.2 lands; a SocketHandler from 127.0.0.1 is refused, reported and counted', async (t) => {
      const dir = await tempDir(t);
      const target = join(dir, 'logs.jsonl');
      // Set in the environment, two networks in one value.
      const env = { ...process.env, LOG_SERVER_ALLOW: '127.0.0.2/32, 10.0.0.0/8', LOG_SERVER_METRICS_PORT: '0' };
      const server = await startCli(t, { target, multithreaded: mode.multithreaded, env });
      assert.doesNotMatch(server.stderr(), /warning/, 'loopback: no warning');
      await sendFrom('127.0.0.2', server.port, 'allowed', 5);
      await python([CLIENTS, 'plain', '127.0.0.1', String(server.port), 'refused', '5']);
      await waitForLines(target, 5);
      await waitFor(
        () => /refused a connection from 127\.0\.0\.1:\d+: not in --allow/.test(server.stderr()),
        10_000,
        () => `the refusal on stderr:\n${server.stderr()}`,
      );
      const m = await scrape(await metricsPortOf(server));
      assert.ok((m.get('log_server_connections_refused_total{reason="not-allowed"}') ?? 0) >= 1, 'not-allowed counted');
      const exit = await server.stop('SIGTERM');
      assert.equal(exit.code, 0, exit.stderr);
      const tags = (await readLines(target)).map((l) => (JSON.parse(l) as { tag: string }).tag);
      assert.deepEqual(tags, ['allowed', 'allowed', 'allowed', 'allowed', 'allowed']);
    });
  });
}

describe('--allow on "::" (IPv4 clients as ::ffff:a.b.c.d) and the warning without it', () => {
  const collect = () => {
    const lines: string[] = [];
    const reporter: Reporter = { info: (l) => lines.push(l), warn: (_k, l) => lines.push(l) };
    return { lines, reporter };
  };

  test('127.0.0.2/32 matches ::ffff:127.0.0.2, not ::ffff:127.0.0.1; no warning with --allow', async (t) => {
    const dir = await tempDir(t);
    const target = join(dir, 'logs.jsonl');
    const { lines, reporter } = collect();
    let server;
    try {
      server = await startServer({ host: '::', port: 0, target, allow: ['127.0.0.2/32'], reporter, utc: true });
    } catch (err) {
      assert.fail(`cannot listen on "::" (no IPv6 on this machine?): ${(err as Error).message}`);
    }
    t.after(() => server.close());
    await sendFrom('127.0.0.2', server.address.port, 'mapped', 3);
    await python([CLIENTS, 'plain', '127.0.0.1', String(server.address.port), 'refused', '3']);
    await waitForLines(target, 3);
    await waitFor(
      () => lines.some((l) => /refused a connection from ::ffff:127\.0\.0\.1:\d+: not in --allow/.test(l)),
      10_000,
      () => lines.join('\n'),
    );
    const summary = await server.close();
    assert.equal(summary.written, 3);
    assert.ok(!lines.some((l) => /warning/.test(l)), lines.join('\n'));
  });

  test('on "::" without --allow the server warns once that any host can write', async (t) => {
    const dir = await tempDir(t);
    const { lines, reporter } = collect();
    const server = await startServer({ host: '::', port: 0, target: join(dir, 'logs.jsonl'), reporter });
    t.after(() => server.close());
    await server.close();
    const warnings = lines.filter((l) => /warning/.test(l));
    assert.equal(warnings.length, 1, lines.join('\n'));
    assert.match(warnings[0], /^warning: listening on \[::\]:\d+ without --allow: any host that can reach this port can write to the log/);
  });

  test('a bad --allow value stops the start with one line', async () => {
    const r = await runCli(['--port', '0', '--allow', '10.0.0.0/33']);
    assert.equal(r.code, 2, 'a bad value exits 2, like a bad flag');
    assert.equal(
      r.stderr,
      'log-server: allow: "10.0.0.0/33" is not a network: give an IPv4 or IPv6 CIDR such as 10.0.0.0/8 or fd00::/8, or one address (see log-server --help)\n',
    );
  });
});
