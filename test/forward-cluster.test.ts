/**
 * A 3-node JetStream cluster on loopback with the stream replicated 3 times: killing the stream's leader
 * (kill -9) mid-run loses and repeats nothing.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { join } from 'node:path';
import { PYTHON_DIR, python, sleep, startCli, tempDir, within } from './helpers';
import { natsClient, readStream, startNatsCluster, streamCount, streamInfo, tally, waitForStream } from './nats-helpers';
import { jetstreamManager } from '@nats-io/jetstream';

const CLIENTS = join(PYTHON_DIR, 'reliability_clients.py');

test('3-node cluster, replicas 3: kill -9 of the stream leader mid-run, every record once', async (t) => {
  const dir = await tempDir(t);
  const nodes = await startNatsCluster(t, dir);
  const urls = nodes.map((n) => n.url);
  const nc = await natsClient(t, urls);
  // JetStream answers once the cluster has elected its meta leader.
  const deadline = Date.now() + 20_000;
  for (;;) {
    try {
      await (await jetstreamManager(nc, { timeout: 2000 })).getAccountInfo();
      break;
    } catch (err) {
      if (Date.now() > deadline) throw new Error(`the JetStream cluster did not get ready: ${(err as Error).message}`);
      await sleep(200);
    }
  }

  const server = await startCli(t, {
    target: '',
    args: ['--forward', urls.join(','), '--forward-replicas', '3', '--drain-timeout', '20000'],
    startTimeoutMs: 30_000,
  });
  const tags = ['a', 'b', 'c'];
  const perClient = 2000;
  const total = tags.length * perClient;
  const senders = Promise.all(
    tags.map((tag) => python([CLIENTS, 'numbered', '127.0.0.1', String(server.port), tag, String(perClient), '0', '0', 'none'])),
  );

  await waitForStream(nc, 'LOGS', Math.floor(total / 3), 20_000);
  const info = await streamInfo(nc, 'LOGS');
  assert.equal(info?.config.num_replicas, 3);
  const leader = nodes.find((n) => n.name === info?.cluster?.leader);
  assert.ok(leader, `a stream leader among the nodes (${info?.cluster?.leader})`);
  await leader.kill9();

  await within(senders, 60_000, 'the senders to finish');
  await waitForStream(nc, 'LOGS', total, 40_000);
  const exit = await server.stop('SIGINT');
  assert.equal(exit.code, 0, exit.stderr);
  assert.match(exit.stderr, new RegExp(`forwarded ${total} records to stream LOGS`));

  assert.equal(await streamCount(nc, 'LOGS'), total);
  const { missing, duplicated } = tally(
    (await readStream(nc, 'LOGS')).map((m) => m.text),
    tags,
    perClient,
  );
  assert.deepEqual(missing, [], 'missing records');
  assert.deepEqual(duplicated, [], 'duplicated records');
});
