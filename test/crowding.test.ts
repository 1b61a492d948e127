/**
 * Slow and idle connections must not lock honest clients out. HTTP: a request line and some headers, then
 * nothing (slowloris), 1,500 times from one address; an honest HTTPHandler from another address gets all its
 * records in, and the slow ones are closed (408, counted as slow-request) once --http-header-timeout passes.
 * TCP: one address cannot take every slot (--max-connections-per-client); the excess from it alone is closed,
 * counted and reported, and a real SocketHandler from another address lands every record.
 */
import assert from 'node:assert/strict';
import * as net from 'node:net';
import { join } from 'node:path';
import { describe, test, type TestContext } from 'node:test';
import { MODES, PYTHON_DIR, python, send, startCli, tempDir, waitForLines } from './helpers';
import { waitFor } from './reliability-helpers';

/**
 * Opens `count` connections to 127.0.0.1:port from 127.0.0.2, each sending `hello` (if any), 100 at a time (more
 * at once would overflow the listener's backlog, where the kernel leaves a client "connected" that the server
 * has not accepted yet); all closed after the test.
 */
async function crowd(t: TestContext, port: number, count: number, hello?: string): Promise<net.Socket[]> {
  const sockets: net.Socket[] = [];
  t.after(() => sockets.forEach((s) => s.destroy()));
  for (let start = 0; start < count; start += 100) {
    const batch = Math.min(100, count - start);
    let settled = 0;
    await new Promise<void>((resolve) => {
      for (let i = 0; i < batch; i++) {
        const s = net.connect({ host: '127.0.0.1', port, localAddress: '127.0.0.2' }, () => {
          if (hello !== undefined) s.write(hello);
          s.resume(); // read (and drop) what the server answers, so its close is seen
          if (++settled === batch) resolve();
        });
        s.on('error', () => {
          if (++settled === batch) resolve();
        });
        sockets.push(s);
      }
    });
  }
  return sockets;
}

const open = (sockets: net.Socket[]) => sockets.filter((s) => !s.destroyed && s.readyState === 'open').length;

test(
  'HTTP: 1,500 slow connections from one address; an honest HTTPHandler from another gets every record in',
  { timeout: 120_000 },
  async (t) => {
    const dir = await tempDir(t);
    const target = join(dir, 'logs.jsonl');
    const server = await startCli(t, { target, args: ['--http-port', '0', '--http-header-timeout', '3000'] });
    const httpPort = Number(/http:\/\/127\.0\.0\.1:(\d+)\/log/.exec(server.stderr())?.[1]);
    assert.ok(httpPort > 0, server.stderr());
    const slow = await crowd(t, httpPort, 1500, 'POST /log HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-');
    // The excess from 127.0.0.2 is closed at once: at most --max-connections-per-client stay.
    await waitFor(
      () => open(slow) <= 256,
      20_000,
      () => `${open(slow)} slow connections still open`,
    );
    const r = await python([join(PYTHON_DIR, 'other_handlers.py'), 'http', `127.0.0.1:${httpPort}`, '/log', 'POST', '20', '-']);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout.trim().split('\n').pop() ?? '{}'), { '200': 20 });
    assert.equal((await waitForLines(target, 20)).length, 20);
    // Past --http-header-timeout every slow one is answered 408 and closed.
    await waitFor(
      () => open(slow) === 0,
      30_000,
      () => `${open(slow)} slow connections still open past the header timeout`,
    );
    const exit = await server.stop('SIGINT');
    assert.equal(exit.code, 0, exit.stderr);
    assert.match(
      exit.stderr,
      /refused an HTTP connection from 127\.0\.0\.2:\d+: already 256 open from 127\.0\.0\.2 \(--max-connections-per-client\)/,
    );
    assert.match(exit.stderr, /\(slow-request\): the request did not arrive in time/);
    const m = /slow-request (\d+)/.exec(exit.stderr);
    assert.ok(m && Number(m[1]) >= 1 && Number(m[1]) <= 256, `slow-request count in the summary:\n${exit.stderr}`);
  },
);

for (const mode of MODES) {
  describe(`${mode.name}: --max-connections-per-client`, () => {
    test(
      'one address cannot take every slot: its excess is closed, another address lands every record',
      { timeout: 120_000 },
      async (t) => {
        const dir = await tempDir(t);
        const target = join(dir, 'logs.jsonl');
        const server = await startCli(t, {
          target,
          multithreaded: mode.multithreaded,
          args: ['--max-connections', '300', '--metrics-port', '0'],
        });
        // 2,000 idle connections from 127.0.0.2: 256 (the default per client) are served, the rest closed.
        const idle = await crowd(t, server.port, 2000);
        await waitFor(
          () => open(idle) === 256,
          30_000,
          () => `${open(idle)} idle connections open, 256 expected; server:\n${server.stderr()}`,
        );
        const sent = await send(['burst', '127.0.0.1', String(server.port), '7', '500']);
        assert.equal(sent.code, 0, sent.stderr);
        assert.equal((await waitForLines(target, 500)).length, 500);
        assert.equal(open(idle), 256, 'the served ones stay open (closing an idle SocketHandler loses its next record)');
        for (const s of idle) s.destroy();
        const exit = await server.stop('SIGINT');
        assert.equal(exit.code, 0, exit.stderr);
        assert.match(
          exit.stderr,
          /refused a connection from 127\.0\.0\.2:\d+: already 256 open from 127\.0\.0\.2 \(--max-connections-per-client\)/,
        );
        assert.match(exit.stderr, /^log-server: stopped; wrote 500 records/m);
      },
    );
  });
}
