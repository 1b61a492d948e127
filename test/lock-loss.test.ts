/**
 * A lost lock at any moment — starting, serving, stopping — stops the server cleanly in both modes: one line
 * saying so, everything already received written, and a failure the caller can see (a rejected start with
 * LOGSERVER_ERR_LOCK_LOST, or a summary with `fatal`, which the CLI turns into exit 1). The lock is lost through
 * the hook proper-lockfile's own callback would take (the reliability tests remove a real lock directory).
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { afterEach, describe, test } from 'node:test';
import { startServer } from '../src/server/start';
import { lockTesting } from '../src/sink/lock';
import { ServerError } from '../src/core/errors';
import type { Reporter } from '../src/core/report';
import { MODES, send, tempDir, readLines } from './helpers';

/** A reporter that keeps every line. */
function capture(): Reporter & { lines: string[] } {
  const lines: string[] = [];
  return { lines, info: (l) => lines.push(l), warn: (_k, l) => lines.push(l) };
}

afterEach(() => {
  lockTesting.onTaken = null;
});

for (const mode of MODES) {
  describe(`${mode.name}: the lock lost`, () => {
    const base = { port: 0, multithreaded: mode.multithreaded, workers: 2, udp: false, drainTimeout: 2000 };

    test('while starting: the start fails with LOGSERVER_ERR_LOCK_LOST and says so once', { timeout: 30_000 }, async (t) => {
      const target = join(await tempDir(t), 'logs.jsonl');
      const reporter = capture();
      // Lost before the start has done anything else: the backend (workers), listening and metrics come after.
      lockTesting.onTaken = (lose) => lose(new Error('removed by the test'));
      await assert.rejects(startServer({ ...base, target, reporter, metricsPort: 0 }), (err: unknown) => {
        assert.ok(err instanceof ServerError, String(err));
        assert.equal(err.code, 'LOGSERVER_ERR_LOCK_LOST');
        assert.match(err.message, /^lost the lock on .*logs\.jsonl \(removed by the test\) while starting$/);
        return true;
      });
      assert.deepEqual(
        reporter.lines.filter((l) => /listening on|lost the lock/.test(l)),
        [],
        reporter.lines.join('\n'),
      );
    });

    test('while starting, after the workers are up: the same, and nothing keeps listening', { timeout: 30_000 }, async (t) => {
      const target = join(await tempDir(t), 'logs.jsonl');
      const reporter = capture();
      // Lost a moment after it was taken: in multithreaded mode while the workers start.
      lockTesting.onTaken = (lose) => setTimeout(() => lose(new Error('taken over')), 5);
      const started = startServer({ ...base, target, reporter });
      const outcome = await started.then(
        async (server) => ({ summary: await server.closed }),
        (err: unknown) => ({ err }),
      );
      // Either the start saw it (rejected), or it had already finished and the server stopped on its own.
      if ('err' in outcome) assert.equal((outcome.err as ServerError).code, 'LOGSERVER_ERR_LOCK_LOST');
      else assert.match(outcome.summary.fatal ?? '', /lost the lock/);
      assert.equal(reporter.lines.filter((l) => /lost the lock/.test(l)).length, 'err' in outcome ? 0 : 1, reporter.lines.join('\n'));
    });

    test('while serving: it stops on its own, every record received written, summary.fatal set', async (t) => {
      const target = join(await tempDir(t), 'logs.jsonl');
      const reporter = capture();
      let lose: ((err: Error) => void) | null = null;
      lockTesting.onTaken = (l) => (lose = l);
      const server = await startServer({ ...base, target, reporter });
      const sent = await send(['burst', '127.0.0.1', String(server.address.port), '1', '500']);
      assert.equal(sent.code, 0, sent.stderr);
      assert.ok(lose !== null, 'the hook saw the lock taken');
      (lose as (err: Error) => void)(new Error('removed by the test'));
      const summary = await server.closed;
      assert.match(summary.fatal ?? '', /^lost the lock on .*logs\.jsonl \(removed by the test\)$/);
      assert.equal(summary.written, 500);
      assert.equal((await readLines(target)).length, 500);
      assert.equal(reporter.lines.filter((l) => /lost the lock/.test(l)).length, 1, reporter.lines.join('\n'));
    });

    test('while stopping: the stop goes on, writes everything, and reports the loss in summary.fatal', async (t) => {
      const target = join(await tempDir(t), 'logs.jsonl');
      const reporter = capture();
      let lose: ((err: Error) => void) | null = null;
      lockTesting.onTaken = (l) => (lose = l);
      const server = await startServer({ ...base, target, reporter });
      const sent = await send(['burst', '127.0.0.1', String(server.address.port), '1', '300']);
      assert.equal(sent.code, 0, sent.stderr);
      const closing = server.close();
      (lose as unknown as (err: Error) => void)(new Error('removed while stopping'));
      const summary = await closing;
      assert.match(summary.fatal ?? '', /lost the lock .*removed while stopping/);
      assert.equal(summary.written, 300);
      assert.equal((await readLines(target)).length, 300);
    });
  });
}
