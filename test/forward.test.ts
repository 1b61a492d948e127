/**
 * Forwarding to NATS JetStream against a real nats-server: every record from real SocketHandler clients ends in
 * the stream exactly once, also when the nats-server is killed (kill -9) and restarted mid-run.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { join } from 'node:path';
import { PYTHON_DIR, python, sleep, startCli, tempDir, within } from './helpers';
import { natsClient, readStream, startNats, streamCount, tally, waitForStream } from './nats-helpers';

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
  const { missing, duplicated } = tally(messages.map((m) => m.text), tags, perClient);
  assert.deepEqual(missing, [], 'missing records');
  assert.deepEqual(duplicated, [], 'duplicated records');
  assert.ok(messages.every((m) => m.subject.startsWith('logs.numbered.')), 'subject from the logger name');
  assert.equal(new Set(messages.map((m) => m.msgId)).size, total, 'one message id per record');
});
