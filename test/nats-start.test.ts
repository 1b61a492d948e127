/**
 * Starts that must fail, with one line and exit 1, rather than run without doing their job: a server whose
 * --forward names no reachable NATS server, or a stream that exists but does not listen on the subjects it
 * would forward to; a second `log-server consume` on the target of a running one; a `.seq` of another stream.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { jetstreamManager } from '@nats-io/jetstream';
import { spawn } from 'node:child_process';
import { assertBuilt, Child, CLI, cleanEnv, runCli, stackLines, startCli, tempDir, waitForLines, type Exit } from './helpers';
import { freePort, natsClient, startNats } from './nats-helpers';
import { waitFor } from './reliability-helpers';

assertBuilt();

/** Exit 1, and one line on stderr matching `re`, no stack trace. */
function assertFailedStart(r: Exit & { timedOut: boolean }, re: RegExp): void {
  assert.equal(r.timedOut, false, `still running; stderr:\n${r.stderr}`);
  assert.equal(r.code, 1, `exit ${r.code} (${r.signal}); stderr:\n${r.stderr}`);
  const lines = r.stderr.split('\n').filter((l) => l !== '');
  assert.equal(lines.length, 1, r.stderr);
  assert.match(lines[0], re);
  assert.deepEqual(stackLines(r.stderr), [], r.stderr);
}

describe('log-server --forward: a start that cannot forward fails', () => {
  test('no NATS server at the address: "cannot connect", exit 1, no target file left behind', async (t) => {
    const dir = await tempDir(t);
    const target = join(dir, 'logs.jsonl');
    const port = await freePort();
    const r = await runCli(['--port', '0', '--target', target, '--forward', `nats://127.0.0.1:${port}`], { env: cleanEnv() });
    assertFailedStart(r, new RegExp(`^log-server: cannot connect to nats://127\\.0\\.0\\.1:${port}: `));
    assert.equal(existsSync(target), false);
  });

  test('a stream that exists but does not cover the subjects: said with its subjects, exit 1', async (t) => {
    const dir = await tempDir(t);
    const nats = await startNats(t, dir);
    const nc = await natsClient(t, nats.url);
    await (await jetstreamManager(nc)).streams.add({ name: 'LOGS', subjects: ['other.>', 'logs.app'] });
    const target = join(dir, 'logs.jsonl');
    const r = await runCli(['--port', '0', '--target', target, '--forward', nats.url], { env: cleanEnv() });
    assertFailedStart(r, /^log-server: stream LOGS exists but does not listen on logs\.> \(its subjects: other\.>, logs\.app\)$/);
    assert.equal(existsSync(target), false);
    // With a template it does cover, the same stream is used as it is.
    const server = await startCli(t, { target, args: ['--forward', nats.url, '--forward-subject', 'other.{name}'] });
    assert.match(server.stderr(), /^log-server: forwarding to stream LOGS \(subjects other\.>\)/m);
    const exit = await server.stop('SIGTERM');
    assert.equal(exit.code, 0, exit.stderr);
  });
});

describe('log-server consume: a start that would write wrongly fails', () => {
  test('a second consume on the target of a running one: "in use", exit 1; the first goes on', async (t) => {
    const dir = await tempDir(t);
    const nats = await startNats(t, dir);
    const nc = await natsClient(t, nats.url);
    await (await jetstreamManager(nc)).streams.add({ name: 'LOGS', subjects: ['logs.>'] });
    const target = join(dir, 'out.txt');
    const first = new Child(
      spawn(process.execPath, [CLI, 'consume', nats.url, '--target', target], { env: cleanEnv(), stdio: ['ignore', 'pipe', 'pipe'] }),
    );
    t.after(() => first.kill('SIGKILL'));
    await waitFor(
      () => /consuming stream LOGS/.test(first.stderr),
      15_000,
      () => `the first consumer to start:\n${first.stderr}`,
    );
    const second = await runCli(['consume', nats.url, '--target', target, '--durable', 'other'], { env: cleanEnv() });
    assertFailedStart(second, new RegExp(`^log-server consume: .*out\\.txt is in use by another log-server`));
    assert.equal(first.exited, false, first.stderr);
    await nc.publish('logs.app', JSON.stringify({ message: 'after', n: 1 }));
    await waitForLines(target, 1);
    first.kill('SIGTERM');
    const exit = await first.exit;
    assert.equal(exit.code, 0, exit.stderr);
  });

  test('a .seq that records another stream: said, exit 1, neither file touched', async (t) => {
    const dir = await tempDir(t);
    const nats = await startNats(t, dir);
    const nc = await natsClient(t, nats.url);
    await (await jetstreamManager(nc)).streams.add({ name: 'LOGS', subjects: ['logs.>'] });
    const target = join(dir, 'out.txt');
    writeFileSync(target, '{"n":0}\n{"n":1}\n');
    const seq = JSON.stringify({ stream: 'OTHER', seq: 2, ino: statSync(target).ino, size: statSync(target).size });
    writeFileSync(`${target}.seq`, seq);
    const r = await runCli(['consume', nats.url, '--target', target], { env: cleanEnv() });
    assertFailedStart(r, /^log-server consume: .*out\.txt\.seq records stream OTHER, not LOGS: use another target, or remove it/);
    assert.equal(readFileSync(target, 'utf8'), '{"n":0}\n{"n":1}\n');
    assert.equal(readFileSync(`${target}.seq`, 'utf8'), seq);
  });
});
