/**
 * Forwarding to NATS JetStream against a real nats-server: every record from real SocketHandler clients ends in
 * the stream exactly once, also when the nats-server is killed (kill -9) and restarted mid-run.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { join } from 'node:path';
import { PYTHON_DIR, httpGet, metric, python, readLines, sleep, startCli, tempDir, within } from './helpers';
import { natsClient, readStream, startNats, streamCount, tally, waitForStream } from './nats-helpers';
import { jetstreamManager } from '@nats-io/jetstream';

const CLIENTS = join(PYTHON_DIR, 'reliability_clients.py');

/** `count` records "TAG I" from one SocketHandler, `intervalMs` apart, blocking (never dropping) on backpressure. */
function numbered(port: number, tag: string, count: number, intervalMs: number) {
  return python([CLIENTS, 'numbered', '127.0.0.1', String(port), tag, String(count), '0', String(intervalMs), 'none']);
}

test('kill -9 of the nats-server mid-run: the stream ends with every record exactly once', async (t) => {
  const dir = await tempDir(t);
  const nats = await startNats(t, dir);
  const server = await startCli(t, { target: '', args: ['--forward', nats.url, '--drain-timeout', '20000'] });
  assert.match(server.writing, /nats stream LOGS/);
  const nc = await natsClient(t, nats.url);

  const tags = ['a', 'b', 'c'];
  const perClient = 3000;
  const total = tags.length * perClient;
  // As fast as the clients go: thousands of records are in flight when the server dies, some stored but not yet
  // acknowledged, so a retry without its message id would store them twice (seen: ~2000 extra).
  const senders = Promise.all(tags.map((tag) => numbered(server.port, tag, perClient, 0)));
  await waitForStream(nc, 'LOGS', Math.floor(total / 3), 20_000);
  await nats.kill9();
  await sleep(1000);
  await nats.start();
  await within(senders, 60_000, 'the senders to finish');

  await waitForStream(nc, 'LOGS', total, 30_000);
  const exit = await server.stop('SIGINT');
  assert.equal(exit.code, 0, exit.stderr);
  assert.match(exit.stderr, new RegExp(`forwarded ${total} records to stream LOGS`));
  assert.match(exit.stderr, /lost the connection to|failed/, 'the forwarder saw the outage');

  assert.equal(await streamCount(nc, 'LOGS'), total);
  const messages = await readStream(nc, 'LOGS');
  const { missing, duplicated } = tally(
    messages.map((m) => m.text),
    tags,
    perClient,
  );
  assert.deepEqual(missing, [], 'missing records');
  assert.deepEqual(duplicated, [], 'duplicated records');
  assert.ok(
    messages.every((m) => m.subject.startsWith('logs.numbered.')),
    'subject from the logger name',
  );
  assert.equal(new Set(messages.map((m) => m.msgId)).size, total, 'one message id per record');
});

const get = httpGet;

test('while JetStream is down the buffer stays bounded (inputs pause), then everything arrives; a stop reports what was never acknowledged; /healthz and /metrics show it', async (t) => {
  const dir = await tempDir(t);
  const nats = await startNats(t, dir);
  const server = await startCli(t, {
    target: '',
    args: ['--forward', nats.url, '--max-buffer', String(1024 * 1024), '--drain-timeout', '1000', '--metrics-port', '0'],
  });
  const nc = await natsClient(t, nats.url);
  const metricsLine = await within(
    (async () => {
      for (;;) {
        const m = /metrics on http:\/\/127\.0\.0\.1:(\d+)\/metrics/.exec(server.stderr());
        if (m) return m;
        await sleep(25);
      }
    })(),
    10_000,
    'the metrics line',
  );
  const mport = Number(metricsLine[1]);
  assert.equal((await get(mport, '/healthz')).status, 200);
  assert.equal(await metric(mport, 'log_server_forward_connected'), 1);
  await waitForStream(nc, 'LOGS', 0, 10_000);
  await nats.kill9();

  // 2 x 3000 records of ~4.3 KB: 26 MB, far past the 1 MiB buffer and what the kernel's socket buffers hold.
  const tags = ['x', 'y'];
  const perClient = 3000;
  const total = tags.length * perClient;
  let sent = false;
  const senders = Promise.all(
    tags.map((tag) => python([CLIENTS, 'numbered', '127.0.0.1', String(server.port), tag, String(perClient), '4000', '0', 'none'])),
  ).then(() => (sent = true));
  const deadline = Date.now() + 20_000;
  while (!/past --max-buffer/.test(server.stderr()) && Date.now() < deadline) await sleep(50);
  await sleep(1500);
  const held = [...server.stderr().matchAll(/(\d+) records \((\d+) bytes\) wait for stream LOGS, past --max-buffer/g)].map((m) =>
    Number(m[2]),
  );
  assert.ok(held.length > 0, `the forwarder said it paused the inputs:\n${server.stderr()}`);
  // Past the mark by at most what one read brought in.
  assert.ok(Math.max(...held) < 2 * 1024 * 1024, `held ${Math.max(...held)} bytes`);
  assert.equal(sent, false, 'the clients are held back (the server stopped reading them)');
  const sick = await get(mport, '/healthz');
  assert.equal(sick.status, 503);
  assert.match(sick.text, /^(not connected to NATS|forwarding is over --max-buffer behind)/);
  assert.equal(await metric(mport, 'log_server_forward_connected'), 0);
  assert.ok((await metric(mport, 'log_server_forward_buffered_bytes'))! > 1024 * 1024, 'the forward backlog is in /metrics');

  await nats.start();
  await within(senders, 60_000, 'the senders to finish');
  await waitForStream(nc, 'LOGS', total, 30_000);
  assert.equal((await get(mport, '/healthz')).status, 200);
  assert.equal(await metric(mport, 'log_server_forward_acknowledged_total'), total);
  assert.equal(await metric(mport, 'log_server_forward_buffered'), 0);
  assert.ok((await metric(mport, 'log_server_forward_failures_total'))! > 0, 'the outage counted as failures');

  // Down again: what is sent now can never be acknowledged; the stop waits --drain-timeout, says so, exits 1.
  await nats.kill9();
  await python([CLIENTS, 'numbered', '127.0.0.1', String(server.port), 'late', '5', '0', '0', 'none']);
  await sleep(200);
  const exit = await server.stop('SIGINT');
  assert.equal(exit.code, 1, exit.stderr);
  assert.match(exit.stderr, /5 records were not acknowledged by stream LOGS/);
  assert.match(exit.stderr, new RegExp(`forwarded ${total} records to stream LOGS, 5 NOT acknowledged`));

  await nats.start();
  const after = await natsClient(t, nats.url);
  assert.equal(await waitForStream(after, 'LOGS', total, 10_000), total);
  const { missing, duplicated } = tally(
    (await readStream(after, 'LOGS')).map((m) => m.text),
    tags,
    perClient,
  );
  assert.deepEqual(missing, []);
  assert.deepEqual(duplicated, []);
});

test('multithreaded, with the file kept too: the file and the stream both get every record once', async (t) => {
  const dir = await tempDir(t);
  const nats = await startNats(t, dir);
  const target = join(dir, 'logs.txt');
  const server = await startCli(t, {
    target,
    multithreaded: true,
    workers: 2,
    args: ['--forward', nats.url, '--forward-subject', 'app.{name}'],
  });
  assert.equal(server.writing, target);
  const tags = ['m1', 'm2'];
  const perClient = 1000;
  const total = tags.length * perClient;
  await Promise.all(tags.map((tag) => numbered(server.port, tag, perClient, 0)));
  const nc = await natsClient(t, nats.url);
  await waitForStream(nc, 'LOGS', total, 20_000);
  const exit = await server.stop('SIGINT');
  assert.equal(exit.code, 0, exit.stderr);
  assert.match(exit.stderr, new RegExp(`wrote ${total} records to .*; forwarded ${total} records to stream LOGS`));
  const messages = await readStream(nc, 'LOGS');
  assert.deepEqual(
    tally(
      messages.map((m) => m.text),
      tags,
      perClient,
    ),
    { missing: [], duplicated: [] },
  );
  assert.deepEqual(tally(await readLines(target), tags, perClient), { missing: [], duplicated: [] });
  assert.deepEqual([...new Set(messages.map((m) => m.subject))].sort(), ['app.numbered.m1', 'app.numbered.m2']);
});

test('an existing stream is used as it is; a record past its max_msg_size is reported and skipped, not retried forever', async (t) => {
  const dir = await tempDir(t);
  const nats = await startNats(t, dir);
  const nc = await natsClient(t, nats.url);
  await (await jetstreamManager(nc)).streams.add({ name: 'LOGS', subjects: ['logs.>'], max_msg_size: 2000 });
  const target = join(dir, 'logs.txt');
  const server = await startCli(t, { target, args: ['--forward', nats.url] });
  await python([CLIENTS, 'numbered', '127.0.0.1', String(server.port), 'big', '3', '3000', '0', 'none']);
  await numbered(server.port, 'small', 5, 0);
  await waitForStream(nc, 'LOGS', 5, 10_000);
  const exit = await server.stop('SIGINT');
  assert.equal(exit.code, 0, exit.stderr);
  assert.doesNotMatch(exit.stderr, /created stream/);
  assert.match(exit.stderr, /larger than the stream's max_msg_size; not forwarded/);
  assert.match(exit.stderr, /3 records too large to forward/);
  assert.match(exit.stderr, /wrote 8 records to .*; forwarded 5 records to stream LOGS/);
  const texts = (await readStream(nc, 'LOGS')).map((m) => m.text);
  assert.deepEqual(tally(texts, ['small'], 5), { missing: [], duplicated: [] });
  assert.equal((await readLines(target)).length, 8, 'the file keeps them all');
});
