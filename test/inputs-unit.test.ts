/**
 * The UDP and HTTP inputs in process, against a sink the test controls: HTTPHandler's text back to values, what
 * happens when the sink is full, the address hook, and the UDP socket's last datagrams on stop.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as dgram from 'node:dgram';
import { EventEmitter } from 'node:events';
import * as http from 'node:http';
import { DatagramInput, type DatagramInputOptions } from '../src/input/udp';
import { HttpInput, type HttpInputOptions } from '../src/input/http';
import { makeFormLineMaker, numberFrom } from '../src/decode/form-record';
import { makeLineMaker } from '../src/decode/record';
import * as net from 'node:net';
import { listenWithOtherInputs, startOtherInputs } from '../src/input/inputs';
import { resolveOptions } from '../src/config/options';
import { LineBuffer } from '../src/format/line-buffer';
import { PyFloat, PyInt } from '../src/format/values';
import { silentReporter } from '../src/core/report';
import type { EntrySink } from '../src/sink/sink';
import { frame, sleep, within } from './helpers';
import { b64, goodCase } from './fixtures';
import { RefusedRecord, type RejectedFrame } from '../src/core/refusals';

const GOOD = goodCase('record/info', 1);

/** A sink that keeps what it is given and says "full" while `full` is set. */
class TestSink extends EventEmitter implements EntrySink {
  lines: string[] = [];
  writes = 0;
  full = false;
  write(lines: Buffer, count: number): boolean {
    this.writes++;
    const got = lines.toString('utf8').split('\n').slice(0, -1);
    assert.equal(got.length, count);
    this.lines.push(...got);
    return !this.full;
  }
  drain(): void {
    this.full = false;
    this.emit('drain');
  }
}

const formLine = (form: string): string => {
  const out = new LineBuffer();
  makeFormLineMaker({ utc: true, maxEntry: 1 << 20 })(form, out);
  return out.take().toString('utf8');
};

describe('HTTPHandler text back to values', () => {
  test('numbers: ints exact at any size, floats as Python wrote them, nan/inf; anything else stays text', () => {
    assert.equal(numberFrom('20'), 20);
    assert.deepEqual(numberFrom('140085528271744'), 140085528271744);
    assert.deepEqual(numberFrom('18446744073709551617'), new PyInt(18446744073709551617n));
    assert.deepEqual(numberFrom('1795606884.573754'), new PyFloat(1795606884.573754));
    assert.deepEqual(numberFrom('1e-05'), new PyFloat(1e-5));
    assert.deepEqual(numberFrom('nan'), new PyFloat(NaN));
    assert.deepEqual(numberFrom('-inf'), new PyFloat(-Infinity));
    for (const text of ['', 'None', '0x10', '1_000', ' 1', '1.', '.5', 'twenty']) assert.equal(numberFrom(text), undefined, text);
  });

  test('the line: numeric fields as numbers, None fields as null, extras and args as text, `message` when sent', () => {
    const form = new URLSearchParams({
      name: 'app',
      msg: 'item %d',
      args: '(42,)',
      levelname: 'INFO',
      levelno: '20',
      exc_info: 'None',
      stack_info: 'None',
      lineno: 'None',
      thread: 'None',
      threadName: 'None',
      created: '1700000000.5',
      msecs: '500.0',
      process: '7160',
      user_id: '1234',
      note: 'None',
      message: 'item 42',
    }).toString();
    assert.equal(
      formLine(form),
      '{"message":"item 42","levelname":"INFO","created":1700000000.5,"created_human":"2023-11-14 22:13:20.500","name":"app","msg":"item %d","args":"(42,)","levelno":20,"exc_info":null,"stack_info":null,"lineno":"None","thread":null,"threadName":null,"msecs":500.0,"process":7160,"user_id":"1234","note":"None"}\n',
    );
  });

  test('without `message` the line takes `msg`; a repeated key keeps its first value; an int `created` stays an int', () => {
    assert.equal(
      formLine('created=1700000000&msg=first&msg=second&levelname=WARNING'),
      '{"message":"first","levelname":"WARNING","created":1700000000,"created_human":"2023-11-14 22:13:20.000","msg":"first"}\n',
    );
  });

  test('refused: no created, a created that is not a number or out of range, a line over --max-entry', () => {
    const refusal = (form: string, maxEntry = 1 << 20) => {
      try {
        makeFormLineMaker({ utc: true, maxEntry })(form, new LineBuffer());
      } catch (err) {
        assert.ok(err instanceof RefusedRecord);
        return err.code;
      }
      return 'written';
    };
    assert.equal(refusal('msg=x'), 'bad-created');
    assert.equal(refusal('created=None'), 'bad-created');
    assert.equal(refusal('created=nan'), 'bad-created');
    assert.equal(refusal('created=1e300'), 'bad-created');
    assert.equal(refusal(`created=1&msg=${'y'.repeat(2000)}`, 1024), 'too-large');
    assert.equal(refusal('created=1'), 'written');
  });
});

function udpOptions(sink: EntrySink, more: Partial<DatagramInputOptions> = {}): DatagramInputOptions {
  return {
    makeLine: makeLineMaker({ utc: true, maxEntry: 1 << 24 }),
    sink,
    maxFrame: 1 << 20,
    maxBuffer: 1 << 20,
    recvBuffer: 1 << 20,
    reporter: silentReporter,
    onReject: null,
    admit: () => true,
    ...more,
  };
}

async function sendDatagrams(port: number, datagrams: Buffer[]): Promise<void> {
  const socket = dgram.createSocket('udp4');
  for (const d of datagrams) await new Promise<void>((r, j) => socket.send(d, port, '127.0.0.1', (err) => (err ? j(err) : r())));
  socket.close();
}

async function until(check: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

describe('UDP input', () => {
  test('while the sink is full, lines still go to it up to --max-buffer more bytes; past that datagrams are dropped as overflow until it drains', async (t) => {
    const sink = new TestSink();
    const rejected: RejectedFrame[] = [];
    const lineBytes = Buffer.byteLength(GOOD.line) + 1;
    const input = await DatagramInput.bind(
      '127.0.0.1',
      0,
      'IPv4',
      udpOptions(sink, { maxBuffer: 3 * lineBytes, onReject: (r) => rejected.push(r) }),
    );
    t.after(() => input.close(0, 0));
    const datagram = frame(b64(GOOD.pickle));
    sink.full = true;
    // One at a time, so that the sink has answered before the next one is read.
    for (let i = 0; i < 8; i++) {
      await sendDatagrams(input.address.port, [datagram]);
      await until(() => input.stats.received === i + 1, `datagram ${i + 1}`);
      await sleep(5);
    }
    // The first is written and makes the sink say "full"; 4 more fit (over 3 lines' bytes only after the 4th).
    assert.equal(sink.lines.length, 5);
    assert.deepEqual(input.stats.refusedBy, { overflow: 3 });
    assert.deepEqual(rejected, [], 'overflow is counted, not kept (it would add to the backlog)');
    sink.drain();
    await sendDatagrams(input.address.port, [datagram, datagram]);
    await until(() => sink.lines.length === 7, 'the lines after the drain');
    assert.equal(input.stats.refused, 3);
  });

  test('stop: datagrams the kernel holds for the socket are read and written before it closes', async (t) => {
    const sink = new TestSink();
    const input = await DatagramInput.bind('127.0.0.1', 0, 'IPv4', udpOptions(sink));
    t.after(() => input.close(0, 0));
    // spawnSync blocks this event loop while a real DatagramHandler sends: every datagram waits in the kernel.
    const python = `
import logging, logging.handlers
h = logging.handlers.DatagramHandler("127.0.0.1", ${input.address.port})
log = logging.getLogger("stop"); log.propagate = False; log.addHandler(h); log.setLevel(logging.INFO)
for i in range(300): log.info("queued %d", i)
h.close()`;
    const r = spawnSync('python3', ['-c', python], { timeout: 20_000, encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(input.stats.received, 0);
    await within(input.close(), 5000, 'close');
    assert.equal(input.stats.received, 300);
    assert.deepEqual(
      sink.lines.map((l) => (JSON.parse(l) as { message: string }).message),
      Array.from({ length: 300 }, (_, i) => `queued ${i}`),
    );
  });

  test('the address hook: a datagram from an address it refuses is counted and reported, not written', async (t) => {
    const sink = new TestSink();
    const asked: (string | undefined)[] = [];
    const rejected: RejectedFrame[] = [];
    const input = await DatagramInput.bind(
      '127.0.0.1',
      0,
      'IPv4',
      udpOptions(sink, { admit: (a) => (asked.push(a), false), onReject: (r) => rejected.push(r) }),
    );
    t.after(() => input.close(0, 0));
    await sendDatagrams(input.address.port, [frame(b64(GOOD.pickle))]);
    await until(() => input.stats.refused === 1, 'the refusal');
    assert.deepEqual(asked, ['127.0.0.1']);
    assert.deepEqual(input.stats.refusedBy, { 'not-allowed': 1 });
    assert.deepEqual(rejected, [], 'nothing from a sender outside --allow is kept');
    assert.equal(sink.lines.length, 0);
  });
});

test('with port 0, a TCP port whose number is taken for UDP is given up for another one', async (t) => {
  const o = resolveOptions({ host: '127.0.0.1', port: 0, reporter: silentReporter });
  const server = net.createServer();
  t.after(() => new Promise<void>((r) => server.close(() => r())));
  const taken = dgram.createSocket('udp4');
  t.after(() => taken.close());
  const tried: number[] = [];
  const { address, others } = await listenWithOtherInputs(server, o, async (tcp) => {
    tried.push(tcp.port);
    if (tried.length === 1) await new Promise<void>((r) => taken.bind(tcp.port, '127.0.0.1', () => r()));
    return startOtherInputs(o, tcp, new TestSink(), silentReporter, null);
  });
  t.after(() => others.stop(0));
  assert.equal(tried.length, 2);
  assert.notEqual(address.port, tried[0]);
  assert.equal(others.udp?.address.port, address.port);
});

function httpOptions(sink: EntrySink, more: Partial<HttpInputOptions> = {}): HttpInputOptions {
  return {
    makeLine: makeFormLineMaker({ utc: true, maxEntry: 1 << 24 }),
    sink,
    path: '/log',
    auth: undefined,
    maxFrame: 1 << 20,
    maxConnections: 100,
    maxConnectionsPerClient: 100,
    headerTimeout: 10_000,
    requestTimeout: 30_000,
    idleTimeout: 5000,
    onRefusedConnection: () => {},
    reporter: silentReporter,
    onReject: null,
    admit: () => true,
    ...more,
  };
}

function post(port: number, body: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: '127.0.0.1',
        port,
        method: 'POST',
        path: '/log',
        agent: false,
        headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      },
      (res) => res.resume().on('end', () => resolve(res.statusCode ?? 0)),
    );
    req.on('error', reject);
    req.end(body);
  });
}

describe('HTTP input', () => {
  test('while the sink is full the answer waits (the line is already queued); 200 once it drains', async (t) => {
    const sink = new TestSink();
    const input = await HttpInput.listen('127.0.0.1', 0, httpOptions(sink));
    t.after(() => input.close(0));
    sink.full = true;
    let answered: number | null = null;
    const first = post(input.address.port, 'created=1&msg=first').then((s) => (answered = s));
    const second = post(input.address.port, 'created=2&msg=second');
    await until(() => sink.lines.length === 2, 'both lines queued');
    await sleep(100);
    assert.equal(answered, null, 'answered while the sink is full');
    sink.drain();
    assert.deepEqual(await within(Promise.all([first, second]), 5000, 'the answers'), [200, 200]);
    sink.full = false;
    assert.equal(await post(input.address.port, 'created=3&msg=third'), 200);
    assert.deepEqual(
      sink.lines.map((l) => (JSON.parse(l) as { msg: string }).msg),
      ['first', 'second', 'third'],
    );
  });

  test('the address hook: 403, counted and not written', async (t) => {
    const sink = new TestSink();
    const input = await HttpInput.listen('127.0.0.1', 0, httpOptions(sink, { admit: () => false }));
    t.after(() => input.close(0));
    assert.equal(await post(input.address.port, 'created=1&msg=x'), 403);
    assert.deepEqual(input.stats.refusedBy, { 'not-allowed': 1 });
    assert.equal(sink.lines.length, 0);
  });

  test('stop: a request under way is answered and its line written; the port then refuses connections', async (t) => {
    const sink = new TestSink();
    const input = await HttpInput.listen('127.0.0.1', 0, httpOptions(sink));
    t.after(() => input.close(0));
    sink.full = true;
    const port = input.address.port;
    const pending = post(port, 'created=1&msg=held');
    await until(() => sink.lines.length === 1, 'the line queued');
    const closed = input.close(5000);
    await sleep(200);
    sink.drain();
    assert.equal(await within(pending, 5000, 'the held answer'), 200);
    await within(closed, 5000, 'close');
    await assert.rejects(post(port, 'created=2&msg=late'), /ECONNREFUSED/);
  });
});
