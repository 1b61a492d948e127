/**
 * The UDP and HTTP inputs end to end: the built CLI as a child process, real python3 clients sending through
 * logging.handlers.DatagramHandler and logging.handlers.HTTPHandler (test/python/other_handlers.py), in both
 * modes. Expected lines come from scripts/reference_line.py (utc=True).
 */
import { describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import * as dgram from 'node:dgram';
import * as http from 'node:http';
import * as net from 'node:net';
import * as fsp from 'node:fs/promises';
import { join } from 'node:path';
import {
  MODES,
  PYTHON_DIR,
  assertBuilt,
  assertStoppedCleanly,
  connect,
  endSocket,
  frame,
  python,
  readLines,
  runCli,
  sleep,
  stackLines,
  startCli,
  tempDir,
  waitForLines,
  within,
  type Exit,
  type Mode,
  type ServerHandle,
} from './helpers';
import { b64, goodCase, refusedCase } from './fixtures';

assertBuilt();

const OTHER = join(PYTHON_DIR, 'other_handlers.py');
const GOOD = goodCase('record/info', 1);

/** The "also listening on …" line, once it is on stderr; the HTTP port and path from it, if any. */
async function alsoListening(server: ServerHandle): Promise<{ line: string; httpPort?: number; httpPath?: string }> {
  const deadline = Date.now() + 5000;
  let m: RegExpMatchArray | null;
  while (!(m = server.stderr().match(/^log-server: also listening on (.*)$/m))) {
    if (Date.now() > deadline) throw new Error(`no "also listening" line; stderr:\n${server.stderr()}`);
    await sleep(10);
  }
  const h = m[1].match(/http:\/\/127\.0\.0\.1:(\d+)(\S*)/);
  return { line: m[1], httpPort: h ? Number(h[1]) : undefined, httpPath: h ? h[2] : undefined };
}

/** Exit 0, the summary line, no stack trace. */
function assertStopped(exit: Exit, written: number): void {
  assertStoppedCleanly(exit, { written });
}

/** Each line of `want` appears exactly `times` times in `got`, and nothing else does. */
function assertSameMultiset(got: string[], want: string[], times: number): void {
  const count = new Map<string, number>();
  for (const l of got) count.set(l, (count.get(l) ?? 0) + 1);
  const problems: string[] = [];
  for (const l of new Set(want)) {
    const wantN = want.filter((w) => w === l).length * times;
    if (count.get(l) !== wantN) problems.push(`${count.get(l) ?? 0} times, want ${wantN}: ${l.slice(0, 160)}`);
    count.delete(l);
  }
  for (const [l, n] of count) problems.push(`unexpected line (${n} times): ${l.slice(0, 160)}`);
  assert.deepEqual(problems, [], `${got.length} lines, want ${want.length * times}`);
}

async function sendDatagrams(port: number, datagrams: Buffer[]): Promise<void> {
  const socket = dgram.createSocket('udp4');
  try {
    for (const d of datagrams) {
      await new Promise<void>((resolve, reject) => socket.send(d, port, '127.0.0.1', (err) => (err ? reject(err) : resolve())));
      await sleep(2);
    }
  } finally {
    socket.close();
  }
}

interface Answer {
  status: number;
  body: string;
  headers: http.IncomingHttpHeaders;
}

/** One HTTP request (bounded); `rawPath` is sent as is. */
function request(
  port: number,
  method: string,
  rawPath: string,
  o: { body?: string; headers?: Record<string, string> } = {},
): Promise<Answer> {
  return within(
    new Promise((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port, method, path: rawPath, headers: o.headers, agent: false }, (res) => {
        let body = '';
        res.setEncoding('utf8').on('data', (s: string) => (body += s));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }));
      });
      req.on('error', reject);
      req.end(o.body);
    }),
    10_000,
    `${method} ${rawPath.slice(0, 50)}`,
  );
}

const form = (fields: Record<string, string>) => new URLSearchParams(fields).toString();

function inputs(mode: Mode) {
  const serve = (t: TestContext, target: string, args: string[] = []) =>
    startCli(t, { target, multithreaded: mode.multithreaded, workers: 2, utc: true, args });

  test('UDP: each record through a SocketHandler and a DatagramHandler gives the same line twice, as the reference says', async (t) => {
    const dir = await tempDir(t);
    const target = join(dir, 'logs.jsonl');
    const expectedFile = join(dir, 'expected.jsonl');
    const server = await serve(t, target);
    assert.match((await alsoListening(server)).line, new RegExp(`^udp 127\\.0\\.0\\.1:${server.port} \\(receive buffer \\d+ bytes`));
    await python([OTHER, 'dual', '127.0.0.1', String(server.port), expectedFile]);
    const want = await readLines(expectedFile);
    assert.ok(want.length >= 40, `only ${want.length} expected lines`);
    await waitForLines(target, 2 * want.length).catch(() => {}); // the comparison says what is missing
    const exit = await server.stop('SIGINT');
    assertSameMultiset(await readLines(target), want, 2);
    assertStopped(exit, 2 * want.length);
    assert.match(exit.stderr, new RegExp(`; received tcp ${want.length}, udp ${want.length}$`, 'm'));
  });

  test('UDP: 1000 records from one DatagramHandler at about 2000/s all land, in order; SIGTERM right after loses none', async (t) => {
    const dir = await tempDir(t);
    const target = join(dir, 'logs.jsonl');
    const server = await serve(t, target);
    const r = await python([OTHER, 'udp-burst', '127.0.0.1', String(server.port), '1000', '10', '5']);
    assert.equal(r.stdout.trim(), '1000');
    const exit = await server.stop('SIGTERM');
    const lines = await readLines(target);
    const seqs = lines.map((l) => (JSON.parse(l) as { seq: number }).seq);
    assert.deepEqual(
      seqs,
      Array.from({ length: 1000 }, (_, i) => i),
    );
    assertStopped(exit, 1000);
  });

  test('UDP: malformed datagrams are refused, reported and kept like bad frames; good ones around them land', async (t) => {
    const dir = await tempDir(t);
    const target = join(dir, 'logs.jsonl');
    const rejects = join(dir, 'rejects.jsonl');
    const server = await serve(t, target, ['--max-frame', '2048', '--rejects', rejects]);
    const good = frame(b64(GOOD.pickle));
    const badPickle = frame(b64(refusedCase('bad-pickle/garbage-text').pickle));
    const wrongLength = Buffer.from(good);
    wrongLength.writeUInt32BE(good.length); // 4 more than the pickle's length
    const big = frame(Buffer.alloc(3000, 0x41));
    await sendDatagrams(server.port, [good, badPickle, wrongLength, Buffer.from([0, 0]), big, good]);
    await waitForLines(target, 2);
    const exit = await server.stop('SIGTERM');
    assert.deepEqual(await readLines(target), [GOOD.line, GOOD.line]);
    assertStopped(exit, 2);
    assert.match(exit.stderr, /refused 4 \(bad-pickle 1, bad-datagram 2, frame-too-large 1\); received tcp 0, udp 6 \(4 refused\)$/m);
    assert.match(exit.stderr, /^log-server: refused a datagram from 127\.0\.0\.1:\d+ \(bad-pickle\): /m);
    const kept = (await readLines(rejects)).map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.deepEqual(
      kept.map((k) => [k.input, k.reason, k.length, k.frame]),
      [
        ['udp', 'bad-pickle', undefined, badPickle.subarray(4).toString('base64')],
        ['udp', 'bad-datagram', good.length, wrongLength.toString('base64')],
        ['udp', 'bad-datagram', undefined, 'AAA='],
        ['udp', 'frame-too-large', 3000, undefined],
      ],
    );
  });

  test('UDP: a record of 64,000 characters, near the datagram limit, lands whole', async (t) => {
    const dir = await tempDir(t);
    const target = join(dir, 'logs.jsonl');
    const server = await serve(t, target);
    await python([OTHER, 'udp-big', '127.0.0.1', String(server.port), '64000']);
    await waitForLines(target, 1);
    const exit = await server.stop('SIGTERM');
    const lines = await readLines(target);
    assert.equal((JSON.parse(lines[0]) as { message: string }).message, 'x'.repeat(64000));
    assertStopped(exit, 1);
  });

  test('HTTP: GET from the stock HTTPHandler and POST from the README MergedHTTPHandler, lines as the rules say', async (t) => {
    const dir = await tempDir(t);
    const target = join(dir, 'logs.jsonl');
    const server = await serve(t, target, ['--http-port', '0']);
    const { httpPort, httpPath } = await alsoListening(server);
    assert.equal(httpPath, '/log');
    const host = `127.0.0.1:${httpPort}`;
    const getExpected = join(dir, 'get.jsonl');
    const postExpected = join(dir, 'post.jsonl');
    const get = await python([OTHER, 'http', host, '/log', 'GET', 'kinds', getExpected]);
    const post = await python([OTHER, 'http', host, '/log', 'POST', 'kinds', postExpected, '--merged']);
    const want = [...(await readLines(getExpected)), ...(await readLines(postExpected))];
    assert.equal(want.length, 16);
    assert.deepEqual(JSON.parse(get.stdout), { 200: 8 });
    assert.deepEqual(JSON.parse(post.stdout), { 200: 8 });
    const exit = await server.stop('SIGTERM');
    const got = await readLines(target);
    assert.deepEqual(got, want);
    assertStopped(exit, 16);
    assert.match(exit.stderr, /; received tcp 0, udp 0, http 16$/m);
    // Spot checks independent of the Python side's copy of the rules.
    const records = got.map((l) => JSON.parse(l) as Record<string, unknown>);
    const plain = records[1];
    assert.equal(plain.message, 'plain %s %d');
    assert.equal(plain.args, "('args', 42)");
    assert.equal(plain.levelno, 20);
    assert.equal(typeof plain.lineno, 'number');
    assert.equal(plain.exc_info, null);
    assert.equal(plain.user_id, '1234');
    assert.match(got[1], /,"big":"1180591620717411303424",/);
    assert.match(got[1], /,"msecs":\d+\.\d+,/);
    assert.equal(records[8 + 1].message, 'plain args 42');
    assert.equal(records[8 + 1].msg, 'plain %s %d');
    assert.equal(records[0].created_human, '2023-09-25 14:20:04.501');
    const traceback = records[8 + 4];
    assert.equal(traceback.message, 'with traceback here');
    assert.match(String(traceback.exc_text), /^Traceback \(most recent call last\):\n[\s\S]*KeyError: 'missing'$/);
    const noThread = records[6];
    assert.equal(noThread.thread, null);
    assert.equal(noThread.threadName, null);
  });

  test('HTTP: with --http-auth (from LOG_SERVER_HTTP_AUTH) only the right credentials write; others get 401, nothing of theirs kept', async (t) => {
    const dir = await tempDir(t);
    const target = join(dir, 'logs.jsonl');
    const rejects = join(dir, 'rejects.jsonl');
    const server = await startCli(t, {
      target,
      multithreaded: mode.multithreaded,
      workers: 2,
      args: ['--http-port', '0', '--http-path', '/in/log', '--rejects', rejects],
      env: { ...process.env, LOG_SERVER_HTTP_AUTH: 'app:s3cret: with colon' },
    });
    const { httpPort, line } = await alsoListening(server);
    assert.match(line, /http:\/\/127\.0\.0\.1:\d+\/in\/log \(Basic auth\)/);
    const host = `127.0.0.1:${httpPort}`;
    const send = async (method: string, ...auth: string[]) =>
      JSON.parse((await python([OTHER, 'http', host, '/in/log', method, '3', '-', ...auth])).stdout);
    assert.deepEqual(await send('POST', '--auth', 'app:s3cret: with colon'), { 200: 3 });
    assert.deepEqual(await send('GET', '--auth', 'app:s3cret: with colon'), { 200: 3 });
    assert.deepEqual(await send('POST'), { 401: 3 });
    assert.deepEqual(await send('GET', '--auth', 'app:guess-1234'), { 401: 3 });
    const answer = await request(httpPort!, 'GET', `/in/log?${form({ created: '1700000000.5', msg: 'x' })}`);
    assert.equal(answer.status, 401);
    assert.match(String(answer.headers['www-authenticate']), /^Basic realm="log-server"/);
    const exit = await server.stop('SIGTERM');
    assert.equal((await readLines(target)).length, 6);
    assertStopped(exit, 6);
    assert.match(exit.stderr, /refused 7 \(unauthorized 7\); received tcp 0, udp 0, http 13 \(7 refused\)$/m);
    assert.ok(!exit.stderr.includes('s3cret'), 'the password is not printed');
    // Nothing unauthenticated is stored: the 401s are kept with client, code and detail, not their form.
    const kept = (await readLines(rejects)).map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.equal(kept.length, 7);
    for (const k of kept) {
      assert.equal(k.reason, 'unauthorized');
      assert.equal(k.frame, undefined, JSON.stringify(k));
    }
    assert.ok(!(await fsp.readFile(rejects, 'utf8')).includes('guess-1234'), 'the wrong password is not kept');
  });
}

for (const mode of MODES) describe(mode.name, () => inputs(mode));

describe('--allow', () => {
  for (const mode of MODES) {
    test(`${mode.name}: applies to UDP datagrams and HTTP requests; /metrics counts them as inputs udp and http`, async (t) => {
      const dir = await tempDir(t);
      const target = join(dir, 'logs.jsonl');
      const server = await startCli(t, {
        target,
        multithreaded: mode.multithreaded,
        workers: 2,
        args: ['--allow', '127.0.0.2', '--http-port', '0', '--metrics-port', '0'],
      });
      const { httpPort } = await alsoListening(server);
      const datagram = frame(b64(GOOD.pickle));
      await sendDatagrams(server.port, [datagram]); // from 127.0.0.1
      const from2 = dgram.createSocket('udp4');
      await new Promise<void>((r) => from2.bind(0, '127.0.0.2', () => r()));
      await new Promise<void>((r, j) => from2.send(datagram, server.port, '127.0.0.1', (err) => (err ? j(err) : r())));
      from2.close();
      const answer = await request(httpPort!, 'GET', `/log?${form({ created: '1700000000.5', msg: 'x' })}`);
      assert.equal(answer.status, 403);
      await waitForLines(target, 1);
      const metricsPort = Number(/metrics on http:\/\/127\.0\.0\.1:(\d+)\/metrics/.exec(server.stderr())?.[1]);
      const metrics = (await request(metricsPort, 'GET', '/metrics')).body;
      for (const line of [
        'log_server_records_received_total{input="udp"} 2',
        'log_server_records_refused_total{input="udp",reason="not-allowed"} 1',
        'log_server_records_received_total{input="http"} 1',
        'log_server_records_refused_total{input="http",reason="not-allowed"} 1',
      ]) {
        assert.ok(metrics.split('\n').includes(line), `no ${line} in /metrics:\n${metrics}`);
      }
      const exit = await server.stop('SIGTERM');
      assert.deepEqual(await readLines(target), [GOOD.line]);
      assertStopped(exit, 1);
      assert.match(exit.stderr, /refused 2 \(not-allowed 2\); received tcp 0, udp 2 \(1 refused\), http 1 \(1 refused\)$/m);
      assert.match(exit.stderr, /^log-server: refused a datagram from 127\.0\.0\.1:\d+ \(not-allowed\): not in --allow$/m);
    });
  }
});

describe('HTTP requests that are not records', () => {
  test('404, 405, 415, 400, 413, 431 and cut requests, each with its reason; counted, reported and kept', async (t) => {
    const dir = await tempDir(t);
    const target = join(dir, 'logs.jsonl');
    const rejects = join(dir, 'rejects.jsonl');
    const server = await startCli(t, { target, args: ['--http-port', '0', '--max-frame', '4096', '--rejects', rejects] });
    const port = (await alsoListening(server)).httpPort!;
    const record = form({
      name: 'raw',
      msg: 'by hand',
      levelname: 'INFO',
      created: '1700000000.25',
      lineno: '7',
      thread: '18446744073709551617',
    });
    const post = (body: string, type = 'application/x-www-form-urlencoded') =>
      request(port, 'POST', '/log', { body, headers: { 'Content-Type': type } });
    const cases: [Promise<Answer>, number, string][] = [
      [request(port, 'GET', `/other?${record}`), 404, 'not-found'],
      [request(port, 'PUT', '/log', { body: record }), 405, 'bad-method'],
      [post('{"created": 1}', 'application/json'), 415, 'bad-content-type'],
      [post(form({ msg: 'no created' })), 400, 'bad-created'],
      [post(form({ msg: 'bad created', created: 'yesterday' })), 400, 'bad-created'],
      [post(form({ msg: 'x'.repeat(5000), created: '1' })), 413, 'frame-too-large'],
      [request(port, 'GET', `/log?${form({ msg: 'x'.repeat(5000), created: '1' })}`), 413, 'frame-too-large'],
      [request(port, 'GET', `/log?${form({ msg: 'x'.repeat(20_000), created: '1' })}`), 431, 'frame-too-large'],
    ];
    for (const [answer, status, reason] of cases) {
      const a = await answer;
      assert.equal(a.status, status, `${reason}: ${a.body}`);
      if (status !== 431) assert.match(a.body, new RegExp(`^${reason}: `));
    }
    assert.equal((await post(record)).status, 200);
    assert.equal((await request(port, 'GET', `/log?${record}`)).status, 200);
    // A client that goes away in the middle of its body.
    const cut = await connect(t, port);
    cut.write(
      `POST /log HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\ncreated=1&msg=cu`,
    );
    await sleep(100);
    await endSocket(cut);
    const cutInHeaders = await connect(t, port);
    cutInHeaders.write('POST /log HTTP/1.1\r\nHost: x\r\nContent-Le');
    await sleep(100);
    await endSocket(cutInHeaders);
    await sleep(100);
    const exit = await server.stop('SIGTERM');
    const lines = await readLines(target);
    assert.equal(lines.length, 2);
    assert.equal(lines[0], lines[1]);
    assert.equal(
      lines[0],
      '{"message":"by hand","levelname":"INFO","created":1700000000.25,"created_human":"2023-11-14 22:13:20.250","name":"raw","msg":"by hand","lineno":7,"thread":18446744073709551617}',
    );
    assertStopped(exit, 2);
    assert.match(
      exit.stderr,
      /^log-server: refused a request from 127\.0\.0\.1:\d+ \(not-found\): GET \/other: records are taken at \/log only$/m,
    );
    const kept = (await readLines(rejects)).map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.deepEqual(
      kept.map((k) => [k.input, k.reason]).sort(),
      [...cases.map(([, , reason]) => ['http', reason]), ['http', 'truncated-frame'], ['http', 'truncated-frame']].sort(),
    );
    const truncated = kept.find((k) => k.reason === 'truncated-frame' && k.frame !== undefined);
    assert.equal(truncated?.length, 100);
    assert.equal(Buffer.from(String(truncated?.frame), 'base64').toString(), 'created=1&msg=cu');
    const noCreated = kept.find((k) => k.reason === 'bad-created');
    assert.equal(Buffer.from(String(noCreated?.frame), 'base64').toString(), form({ msg: 'no created' }));
    // Nothing of a request refused before its form was read is stored: client, code and detail only.
    const before = kept.filter((k) => ['not-found', 'bad-method', 'bad-content-type', 'frame-too-large'].includes(String(k.reason)));
    assert.equal(before.length, 6);
    for (const k of before) assert.equal(k.frame, undefined, `${k.reason} kept its bytes: ${JSON.stringify(k)}`);
    // Those refused after it was read keep it.
    for (const k of kept.filter((k) => k.reason === 'bad-created')) assert.equal(typeof k.frame, 'string', JSON.stringify(k));
  });
});

describe('switching inputs off and on', () => {
  test('--no-udp: no UDP socket, no "also listening" line; LOG_SERVER_UDP=false does the same', async (t) => {
    for (const how of [{ args: ['--no-udp'] }, { env: { ...process.env, LOG_SERVER_UDP: 'false' } }]) {
      const dir = await tempDir(t);
      const target = join(dir, 'logs.jsonl');
      const server = await startCli(t, { target, ...how });
      await sendDatagrams(server.port, [frame(b64(GOOD.pickle))]);
      await sleep(200);
      const exit = await server.stop('SIGTERM');
      assertStopped(exit, 0);
      assert.doesNotMatch(exit.stderr, /also listening/);
      assert.deepEqual(await readLines(target), []);
    }
  });

  /** A bound UDP socket whose port number is free in TCP (a random UDP port can be some connection's TCP port). */
  async function udpPortWithFreeTcp(): Promise<dgram.Socket> {
    for (let tries = 0; ; tries++) {
      const udp = dgram.createSocket('udp4');
      await new Promise<void>((r) => udp.bind(0, '127.0.0.1', () => r()));
      const tcp = net.createServer();
      const free = await new Promise<boolean>((r) =>
        tcp.once('error', () => r(false)).listen(udp.address().port, '127.0.0.1', () => r(true)),
      );
      if (free) {
        await new Promise<void>((r) => tcp.close(() => r()));
        return udp;
      }
      udp.close();
      assert.ok(tries < 20, 'no UDP port free in TCP as well');
    }
  }

  for (const mode of MODES) {
    test(`${mode.name}: the UDP port already taken: one line, exit 1, the TCP port and the target let go`, async (t) => {
      const dir = await tempDir(t);
      const taken = await udpPortWithFreeTcp();
      t.after(() => taken.close());
      const port = taken.address().port;
      const args = ['--host', '127.0.0.1', '--port', String(port), '--target', join(dir, 'x.jsonl')];
      if (mode.multithreaded) args.push('--multithreaded', '--workers', '2');
      const r = await runCli(args, { timeoutMs: 20_000 });
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, new RegExp(`^log-server: cannot listen on udp 127\\.0\\.0\\.1:${port}: the address is already in use`, 'm'));
      assert.deepEqual(stackLines(r.stderr), []);
      // Nothing left holding the port or the lock: a server with --no-udp starts on it at once.
      const again = await startCli(t, { target: join(dir, 'x.jsonl'), rawArgs: [...args.slice(0, 6), '--no-udp'] });
      assert.equal(again.port, port);
      assertStopped(await again.stop('SIGTERM'), 0);
    });
  }

  test('bad values: --http-port equal to --port, a path without /, auth without a colon', async (t) => {
    const dir = await tempDir(t);
    for (const [args, message] of [
      [['--port', '9555', '--http-port', '9555'], /http-port must differ from port/],
      [['--http-port', '0', '--http-path', 'log'], /http-path must start with \//],
      [['--http-port', '0', '--http-auth', 'nocolon'], /http-auth must be user:password/],
    ] as const) {
      const server = startCli(t, {
        target: join(dir, 'x.jsonl'),
        rawArgs: ['--host', '127.0.0.1', '--target', join(dir, 'x.jsonl'), ...args],
      });
      await assert.rejects(server, (err: Error) => {
        assert.match(err.message, message);
        return true;
      });
    }
  });
});
