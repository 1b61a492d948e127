/**
 * Scaling out as README "Scaling out" shows it: Python clients → HAProxy (examples/haproxy.cfg, with this test's
 * ports) → two log-server receivers → one JetStream stream. Every record arrives exactly once.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PYTHON_DIR, ROOT, canConnect, python, sleep, startCli, tempDir, within } from './helpers';
import { freePort, natsClient, readStream, startNats, streamCount, tally, waitForStream } from './nats-helpers';

const CLIENTS = join(PYTHON_DIR, 'reliability_clients.py');

/** The shipped config with 127.0.0.1 ports in place of its example addresses. */
function haproxyConfig(frontPort: number, backPorts: number[]): string {
  const shipped = readFileSync(join(ROOT, 'examples', 'haproxy.cfg'), 'utf8');
  let i = 0;
  const out = shipped
    .replace(/^(\s*bind )\S+$/m, `$1127.0.0.1:${frontPort}`)
    .replace(/^(\s*server \S+ )\S+$/gm, (_, head: string) => `${head}127.0.0.1:${backPorts[i++]}`);
  assert.equal(i, backPorts.length, 'the example has one server line per receiver');
  return out;
}

test('two receivers behind HAProxy forward every record from several clients to one stream, once', async (t) => {
  const dir = await tempDir(t);
  const nats = await startNats(t, dir);
  const receivers = await Promise.all([1, 2].map((n) => startCli(t, { target: join(dir, `r${n}.txt`), args: ['--forward', nats.url] })));
  const front = await freePort();
  const cfg = join(dir, 'haproxy.cfg');
  writeFileSync(
    cfg,
    haproxyConfig(
      front,
      receivers.map((r) => r.port),
    ),
  );
  const haproxy = spawn('haproxy', ['-db', '-f', cfg], { stdio: ['ignore', 'pipe', 'pipe'] });
  let hlog = '';
  haproxy.stdout.setEncoding('utf8').on('data', (s: string) => (hlog += s));
  haproxy.stderr.setEncoding('utf8').on('data', (s: string) => (hlog += s));
  const hexit = new Promise<void>((r) => haproxy.once('exit', () => r()));
  t.after(async () => {
    if (haproxy.exitCode === null && haproxy.signalCode === null) haproxy.kill('SIGKILL');
    await within(hexit, 5000, 'haproxy to exit').catch(() => {});
  });
  // Ready once it accepts: a connect-and-close is harmless to the receivers.
  const deadline = Date.now() + 10_000;
  while (!(await canConnect(front))) {
    if (haproxy.exitCode !== null || Date.now() > deadline) throw new Error(`haproxy did not start:\n${hlog}`);
    await sleep(50);
  }

  const tags = ['p1', 'p2', 'p3', 'p4'];
  const perClient = 2000;
  const total = tags.length * perClient;
  await within(
    Promise.all(tags.map((tag) => python([CLIENTS, 'numbered', '127.0.0.1', String(front), tag, String(perClient), '0', '0', 'none']))),
    60_000,
    'the clients to finish',
  );
  const nc = await natsClient(t, nats.url);
  await waitForStream(nc, 'LOGS', total, 30_000);

  const forwarded: number[] = [];
  for (const r of receivers) {
    const exit = await r.stop('SIGINT');
    assert.equal(exit.code, 0, exit.stderr);
    const m = exit.stderr.match(/wrote (\d+) records? to .*; forwarded (\d+) records? to stream LOGS/);
    assert.ok(m, exit.stderr);
    assert.equal(m[1], m[2], 'what a receiver wrote to its file it forwarded too');
    forwarded.push(Number(m[2]));
  }
  assert.equal(forwarded[0] + forwarded[1], total);
  assert.ok(forwarded[0] > 0 && forwarded[1] > 0, `leastconn spread the clients over both receivers (${forwarded.join(' + ')})`);

  assert.equal(await streamCount(nc, 'LOGS'), total);
  const { missing, duplicated } = tally(
    (await readStream(nc, 'LOGS')).map((m) => m.text),
    tags,
    perClient,
  );
  assert.deepEqual(missing, []);
  assert.deepEqual(duplicated, []);
});
