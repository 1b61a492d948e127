/**
 * `log-server consume` against a real nats-server: the file gets every message of the stream once, in stream
 * order, also when the consumer is killed (kill -9) mid-way and started again.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { headers, type NatsConnection } from '@nats-io/nats-core';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { assertBuilt, CLI, readLines, tempDir, waitForLines, within } from './helpers';
import { natsClient, startNats } from './nats-helpers';
import { waitFor } from './reliability-helpers';

/** Starts `log-server consume ...args`; killed in t.after. */
function startConsume(t: import('node:test').TestContext, args: string[]) {
  assertBuilt();
  const proc = spawn(process.execPath, [CLI, 'consume', ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  proc.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
  // 'close', not 'exit': the last stderr lines are read by then.
  const exit = new Promise<number | null>((r) => proc.once('close', (code) => r(code)));
  t.after(() => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
  });
  return { proc, exit, stderr: () => stderr };
}

/** Messages {"n": from} ... {"n": total-1} on logs.app.0/1/2, in order. */
async function publishNumbered(nc: NatsConnection, total: number, from = 0): Promise<void> {
  const js = jetstream(nc);
  for (let i = from; i < total; i += 1000) {
    await Promise.all(
      Array.from({ length: Math.min(1000, total - i) }, (_, k) => {
        const h = headers();
        h.set('Nats-Msg-Id', `m${i + k}`);
        return js.publish(`logs.app.${(i + k) % 3}`, JSON.stringify({ message: `record ${i + k}`, n: i + k }), { headers: h });
      }),
    );
  }
}

/** Waits until <target>.seq records stream sequence `seq`: every message up to it is written and recorded. */
async function seqRecorded(target: string, seq: number): Promise<void> {
  await waitFor(
    () => {
      try {
        return (JSON.parse(readFileSync(`${target}.seq`, 'utf8')) as { seq: number }).seq === seq;
      } catch {
        return false;
      }
    },
    15_000,
    () => `${target}.seq to record sequence ${seq}`,
  );
}

/** Whether a TCP connection to 127.0.0.1:port is established, or closed by the peer but not yet by this side
 * (CLOSE_WAIT), as /proc/net/tcp lists them. */
function connectedTo(port: number): boolean {
  const hex = port.toString(16).toUpperCase().padStart(4, '0');
  return readFileSync('/proc/net/tcp', 'utf8')
    .split('\n')
    .slice(1)
    .some((row) => {
      const f = row.trim().split(/\s+/);
      return f[2] === `0100007F:${hex}` && (f[3] === '01' || f[3] === '08');
    });
}

function assertNumbered(lines: string[], total: number): void {
  assert.equal(lines.length, total, 'exactly one line per message');
  lines.forEach((line, i) => assert.equal((JSON.parse(line) as { n: number }).n, i, `line ${i} in stream order`));
}

/** A nats-server with a stream LOGS on logs.> (in a fresh temp dir), and a client of it. */
async function natsWithStream(t: import('node:test').TestContext) {
  const dir = await tempDir(t);
  const nats = await startNats(t, dir);
  const nc = await natsClient(t, nats.url);
  await (await jetstreamManager(nc)).streams.add({ name: 'LOGS', subjects: ['logs.>'] });
  return { dir, nats, nc };
}

test('consume killed mid-way (kill -9) and restarted: every message once, in stream order', async (t) => {
  const { dir, nats, nc } = await natsWithStream(t);
  const total = 6000;
  await publishNumbered(nc, total);

  const target = join(dir, 'out.txt');
  const args = [nats.url, '--target', target, '--batch', '50'];
  const first = startConsume(t, args);
  await waitForLines(target, Math.floor(total / 3), 30_000);
  first.proc.kill('SIGKILL');
  await within(first.exit, 10_000, 'the consumer to die');
  const atKill = (await readLines(target)).length;
  assert.ok(atKill < total, `killed before the end (${atKill} lines)`);

  const second = startConsume(t, args);
  await waitForLines(target, total, 30_000);
  await seqRecorded(target, total);
  second.proc.kill('SIGTERM');
  assert.equal(await within(second.exit, 10_000, 'the consumer to stop'), 0, second.stderr());

  assertNumbered(await readLines(target), total);
  const rec = JSON.parse(readFileSync(`${target}.seq`, 'utf8')) as { seq: number; stream: string };
  assert.deepEqual([rec.stream, rec.seq], ['LOGS', total]);
  assert.match(second.stderr(), /after sequence [1-9]\d* into/, 'the restart went on from the recorded sequence');
});

test('a batch written but not recorded before a crash is cut and written again, once', async (t) => {
  // The state a kill between the fsync of the lines and the write of <target>.seq leaves behind.
  const { dir, nats, nc } = await natsWithStream(t);
  await publishNumbered(nc, 100);
  const target = join(dir, 'out.txt');
  const line = (n: number) => JSON.stringify({ message: `record ${n}`, n }) + '\n';
  const recorded = Array.from({ length: 40 }, (_, n) => line(n)).join('');
  writeFileSync(target, recorded + Array.from({ length: 10 }, (_, n) => line(40 + n)).join('') + '{"message":"rec');
  writeFileSync(`${target}.seq`, JSON.stringify({ stream: 'LOGS', seq: 40, ino: statSync(target).ino, size: Buffer.byteLength(recorded) }));
  const c = startConsume(t, [nats.url, '--target', target]);
  await waitForLines(target, 100, 15_000);
  await seqRecorded(target, 100);
  c.proc.kill('SIGTERM');
  assert.equal(await within(c.exit, 10_000, 'the consumer to stop'), 0, c.stderr());
  assertNumbered(await readLines(target), 100);
  assert.match(c.stderr(), /cut \d+ bytes from the end of .*written after sequence 40/);
});

test('consume --filter takes only the matching subjects; bad arguments exit 2', async (t) => {
  const { dir, nats, nc } = await natsWithStream(t);
  const js = jetstream(nc);
  for (let i = 0; i < 30; i++) await js.publish(i % 3 === 0 ? 'logs.app.db' : 'logs.other', JSON.stringify({ n: i }));
  const target = join(dir, 'app.txt');
  const c = startConsume(t, [nats.url, '--target', target, '--filter', 'logs.app.>', '--durable', 'app']);
  const lines = await waitForLines(target, 10, 15_000);
  await seqRecorded(target, 28); // i = 27 is the 28th message of the stream, the last on logs.app.>
  c.proc.kill('SIGINT');
  assert.equal(await within(c.exit, 10_000, 'the consumer to stop'), 0, c.stderr());
  assert.deepEqual(
    (await readLines(target)).map((l) => (JSON.parse(l) as { n: number }).n),
    [0, 3, 6, 9, 12, 15, 18, 21, 24, 27],
  );
  assert.equal(lines.length, 10);

  const none = startConsume(t, []);
  assert.equal(await within(none.exit, 10_000, 'consume without a URL'), 2);
  assert.match(none.stderr(), /give the NATS server URL/);
  const missing = startConsume(t, [nats.url, '--target', join(dir, 'x.txt'), '--stream', 'NOPE']);
  assert.equal(await within(missing.exit, 10_000, 'consume of a missing stream'), 1);
  assert.match(missing.stderr(), /cannot read stream NOPE/);
});

test('consume reopens its target on SIGHUP (rotation by rename)', async (t) => {
  const { dir, nats, nc } = await natsWithStream(t);
  await publishNumbered(nc, 100);
  const target = join(dir, 'out.txt');
  const c = startConsume(t, [nats.url, '--target', target]);
  await waitForLines(target, 100, 15_000);
  renameSync(target, `${target}.1`);
  c.proc.kill('SIGHUP');
  // The target is reopened before the next batch: one message at a time until it says so, then the rest.
  let next = 100;
  while (!/^log-server consume: reopened /m.test(c.stderr())) {
    assert.ok(next < 150, `no "reopened" line after ${next - 100} messages:\n${c.stderr()}`);
    await publishNumbered(nc, next + 1, next);
    await seqRecorded(target, ++next);
  }
  await publishNumbered(nc, 150, next);
  await seqRecorded(target, 150);
  c.proc.kill('SIGTERM');
  assert.equal(await within(c.exit, 10_000, 'the consumer to stop'), 0, c.stderr());
  assertNumbered([...(await readLines(`${target}.1`)), ...(await readLines(target))], 150);
  assert.equal((JSON.parse(readFileSync(`${target}.seq`, 'utf8')) as { seq: number }).seq, 150);
});

test('consume stops promptly on SIGTERM while NATS is unreachable', async (t) => {
  const { dir, nats, nc } = await natsWithStream(t);
  await publishNumbered(nc, 10);
  const target = join(dir, 'out.txt');
  const c = startConsume(t, [nats.url, '--target', target]);
  await waitForLines(target, 10, 15_000);
  assert.ok(connectedTo(nats.port), 'the consumer is connected to NATS');
  await nats.kill9();
  // Stopped once it has found the server gone: no connection to its port is open, or half closed, any more.
  await waitFor(
    () => !connectedTo(nats.port),
    20_000,
    () => `the consumer to find NATS gone:\n${c.stderr()}`,
  );
  c.proc.kill('SIGTERM');
  assert.equal(await within(c.exit, 10_000, 'the consumer to stop with NATS down'), 0, c.stderr());
  assertNumbered(await readLines(target), 10);
});
