/**
 * The `log-server` command (dist/cli.js) as a child process: help and version, one clear line for every way a
 * start can fail, environment variables, the target lock between two servers and after a crash, the stop
 * summary, and the start line of multithreaded mode.
 */
import { describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, statSync } from 'node:fs';
import * as fsp from 'node:fs/promises';
import { join } from 'node:path';
import {
  MODES,
  PACKAGE_VERSION,
  assertBuilt,
  childPids,
  occupyPort,
  readLines,
  runCli,
  send,
  stackLines,
  startCli,
  tempDir,
  waitForLines,
  type Exit,
  cleanEnv,
} from './helpers';

assertBuilt();

/** process.env without any LOG_SERVER_* variable (they would change the CLI's defaults). */
/**
 * The CLI failed to start the way a user should see it: the exit code the README promises (2 for a bad flag or
 * value, 1 otherwise), quickly, one `log-server: ` line, no stack.
 */
function assertOneLineFailure(r: Exit & { timedOut: boolean }, within: number, what: string, code: 1 | 2): string {
  const show = `${what}: exit ${r.code} (signal ${r.signal}) after ${r.ms} ms; stderr:\n${r.stderr}`;
  assert.equal(r.timedOut, false, `still running: ${show}`);
  assert.equal(r.code, code, `want exit code ${code}: ${show}`);
  assert.ok(r.ms < within, `took ${r.ms} ms, want under ${within} ms: ${show}`);
  const lines = r.stderr.split('\n').filter((l) => l !== '');
  assert.deepEqual(stackLines(r.stderr), [], `stack trace: ${show}`);
  assert.equal(lines.length, 1, `want exactly one line on stderr: ${show}`);
  assert.ok(lines[0].startsWith('log-server: '), `want the line to start "log-server: ": ${show}`);
  assert.equal(r.stdout, '', `nothing on stdout: ${show}`);
  return lines[0];
}

const modeArgs = (multithreaded: boolean) => (multithreaded ? ['--multithreaded', '--workers', '2'] : []);

describe('help and version', () => {
  test('--help exits 0 and names every main option', async () => {
    const r = await runCli(['--help'], { env: cleanEnv(), timeoutMs: 15_000 });
    assert.equal(r.code, 0, r.stderr);
    for (const flag of ['--port', '--target', '--multithreaded', '--workers', '--utc', '--host']) {
      assert.ok(r.stdout.includes(flag), `--help does not mention ${flag}:\n${r.stdout}`);
    }
    assert.equal(r.stderr, '');
  });

  test('--version prints the package.json version', async () => {
    const r = await runCli(['--version'], { env: cleanEnv(), timeoutMs: 15_000 });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, `${PACKAGE_VERSION}\n`);
    assert.equal(r.stderr, '');
  });
});

describe('a start that cannot work fails with one clear line', () => {
  test('an unknown flag', async (t) => {
    const dir = await tempDir(t);
    const target = join(dir, 'x.jsonl');
    const r = await runCli(['--bogus', '--port', '0', '--target', target], { env: cleanEnv(), cwd: dir, timeoutMs: 15_000 });
    const line = assertOneLineFailure(r, 5000, '--bogus', 2);
    assert.match(line, /bogus/);
    assert.equal(r.code, 2, 'bad arguments exit 2');
    assert.equal(existsSync(target), false, 'a refused start created the target');
  });

  test('a port that is not a number', async (t) => {
    const dir = await tempDir(t);
    const target = join(dir, 'x.jsonl');
    const r = await runCli(['--port', 'abc', '--target', target], { env: cleanEnv(), cwd: dir, timeoutMs: 15_000 });
    const line = assertOneLineFailure(r, 5000, '--port abc', 2);
    assert.match(line, /port/);
    assert.equal(r.code, 2, 'a bad value exits 2, like a bad flag');
    assert.equal(existsSync(target), false, 'a refused start created the target');
  });

  for (const mode of MODES) {
    describe(mode.name, () => {
      test('a port already in use; the target is left unlocked', async (t) => {
        const dir = await tempDir(t);
        const target = join(dir, 'x.jsonl');
        const port = await occupyPort(t);
        const r = await runCli(['--host', '127.0.0.1', '--port', String(port), '--target', target, ...modeArgs(mode.multithreaded)], {
          env: cleanEnv(),
          cwd: dir,
          timeoutMs: 20_000,
        });
        const line = assertOneLineFailure(r, 8000, `port ${port} in use`, 1);
        assert.match(line, new RegExp(`${port}`));
        assert.equal(existsSync(`${target}.lock`), false, 'the lock was left behind');
        // ... so a server on a free port can take the same target at once.
        const server = await startCli(t, { target, multithreaded: mode.multithreaded, cwd: dir, env: cleanEnv(), startTimeoutMs: 5000 });
        await server.stop('SIGTERM');
      });

      test('a target inside a directory that does not exist', async (t) => {
        const dir = await tempDir(t);
        const target = join(dir, 'no', 'such', 'dir', 'x.jsonl');
        const r = await runCli(['--host', '127.0.0.1', '--port', '0', '--target', target, ...modeArgs(mode.multithreaded)], {
          env: cleanEnv(),
          cwd: dir,
          timeoutMs: 20_000,
        });
        const line = assertOneLineFailure(r, 8000, 'target in a missing directory', 1);
        assert.ok(line.includes(target), `the line does not name the target: ${line}`);
      });

      test('a target that is a directory', async (t) => {
        const dir = await tempDir(t);
        const target = join(dir, 'a-directory');
        await fsp.mkdir(target);
        const r = await runCli(['--host', '127.0.0.1', '--port', '0', '--target', target, ...modeArgs(mode.multithreaded)], {
          env: cleanEnv(),
          cwd: dir,
          timeoutMs: 20_000,
        });
        const line = assertOneLineFailure(r, 8000, 'target is a directory', 1);
        assert.ok(line.includes(target), `the line does not name the target: ${line}`);
        assert.equal((await fsp.stat(target)).isDirectory(), true);
      });
    });
  }
});

describe('environment variables', () => {
  test('LOG_SERVER_PORT=0 and LOG_SERVER_TARGET, no arguments', async (t) => {
    const dir = await tempDir(t);
    const target = join(dir, 'x.jsonl');
    const server = await startCli(t, { rawArgs: [], cwd: dir, env: cleanEnv({ LOG_SERVER_PORT: '0', LOG_SERVER_TARGET: target }) });
    assert.equal(server.writing, target);
    assert.equal(server.modeText, 'single-process');
    assert.notEqual(server.port, 9020);
    await send(['plain', '127.0.0.1', String(server.port), '3', 'from env']);
    const lines = await waitForLines(target, 3);
    assert.deepEqual(
      lines.map((l) => (JSON.parse(l) as { message: string }).message),
      ['from env 0', 'from env 1', 'from env 2'],
    );
    const exit = await server.stop('SIGTERM');
    assert.equal(exit.code, 0, exit.stderr);
    assert.equal(existsSync(join(dir, 'logs.txt')), false, 'wrote the default logs.txt too');
  });

  test('LOG_SERVER_MULTITHREADED=true and LOG_SERVER_WORKERS=2', async (t) => {
    const dir = await tempDir(t);
    const target = join(dir, 'x.jsonl');
    const server = await startCli(t, {
      rawArgs: [],
      cwd: dir,
      multithreaded: true,
      env: cleanEnv({ LOG_SERVER_PORT: '0', LOG_SERVER_TARGET: target, LOG_SERVER_MULTITHREADED: 'true', LOG_SERVER_WORKERS: '2' }),
    });
    assert.equal(server.modeText, 'multithreaded with 2 workers');
    await send(['plain', '127.0.0.1', String(server.port), '2']);
    await waitForLines(target, 2);
    const exit = await server.stop('SIGTERM');
    assert.equal(exit.code, 0, exit.stderr);
    assert.match(exit.stderr, /^log-server: stopped; wrote 2 records/m);
  });
});

for (const mode of MODES) {
  describe(`${mode.name}: the lock on the target`, () => {
    const serve = (t: TestContext, target: string, startTimeoutMs?: number) =>
      startCli(t, { target, multithreaded: mode.multithreaded, workers: 2, env: cleanEnv(), startTimeoutMs });

    test('a second server on the same target gives up with "in use"; the first keeps working', async (t) => {
      const dir = await tempDir(t);
      const target = join(dir, 'x.jsonl');
      const first = await serve(t, target);
      const second = await runCli(['--host', '127.0.0.1', '--port', '0', '--target', target, ...modeArgs(mode.multithreaded)], {
        env: cleanEnv(),
        cwd: dir,
        timeoutMs: 25_000,
      });
      const line = assertOneLineFailure(second, 15_000, 'second server on a locked target', 1);
      assert.match(line, /in use/);
      assert.doesNotMatch(second.stderr, /listening/);

      assert.equal(first.exited, false, `the first server stopped:\n${first.stderr()}`);
      await send(['plain', '127.0.0.1', String(first.port), '1', 'still here']);
      const lines = await waitForLines(target, 1);
      assert.equal((JSON.parse(lines[0]) as { message: string }).message, 'still here 0');
      const exit = await first.stop('SIGTERM');
      assert.equal(exit.code, 0, exit.stderr);
      assert.match(exit.stderr, /^log-server: stopped; wrote 1 record to /m);
      assert.equal(existsSync(`${target}.lock`), false, 'the lock is left after a clean stop');
    });

    test('after kill -9, a new server takes the stale lock over by itself', async (t) => {
      const dir = await tempDir(t);
      const target = join(dir, 'x.jsonl');
      const first = await serve(t, target);
      if (mode.multithreaded) assert.equal(first.workers.length, 2, 'workers of the first server');
      await send(['plain', '127.0.0.1', String(first.port), '1', 'before the crash']);
      await waitForLines(target, 1);

      await first.killHard(); // SIGKILL to the server and (multithreaded) each of its workers
      assert.equal(existsSync(`${target}.lock`), true, 'a killed server cannot remove its lock');
      // The lock goes stale 5 s after its last refresh: the next server must wait for that, and no more than its
      // lock wait (else it gives up with "in use"); the start timeout leaves room past that wait.
      const staleAt = statSync(`${target}.lock`).mtimeMs + 5000;
      const next = await serve(t, target, 30_000);
      assert.ok(Date.now() >= staleAt, `listening ${staleAt - Date.now()} ms before the lock went stale`);
      assert.doesNotMatch(next.stderr(), /in use/);

      await send(['plain', '127.0.0.1', String(next.port), '1', 'after the crash']);
      const lines = await waitForLines(target, 2);
      assert.deepEqual(
        lines.map((l) => (JSON.parse(l) as { message: string }).message),
        ['before the crash 0', 'after the crash 0'],
      );
      const exit = await next.stop('SIGTERM');
      assert.equal(exit.code, 0, exit.stderr);
      assert.match(exit.stderr, /^log-server: stopped; wrote 1 record to /m);
    });
  });

  describe(`${mode.name}: stopping and the start line`, () => {
    test('SIGTERM after 25 records: exit 0, "stopped; wrote 25 records"', async (t) => {
      const dir = await tempDir(t);
      const target = join(dir, 'x.jsonl');
      const server = await startCli(t, { target, multithreaded: mode.multithreaded, workers: 2, env: cleanEnv() });
      await send(['plain', '127.0.0.1', String(server.port), '25']);
      // No waiting for the file: the server must drain what it has received before it stops.
      const exit = await server.stop('SIGTERM');
      assert.equal(exit.code, 0, exit.stderr);
      assert.equal(exit.signal, null);
      assert.match(
        exit.stderr,
        new RegExp(`^log-server: stopped; wrote 25 records to ${target.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`, 'm'),
        exit.stderr,
      );
      assert.deepEqual(stackLines(exit.stderr), []);
      assert.equal((await readLines(target)).length, 25);
    });

    test('the listening line', async (t) => {
      const dir = await tempDir(t);
      const target = join(dir, 'x.jsonl');
      const server = await startCli(t, { target, multithreaded: mode.multithreaded, workers: 2, env: cleanEnv() });
      assert.equal(server.writing, target);
      if (mode.multithreaded) {
        assert.equal(server.modeText, 'multithreaded with 2 workers');
        assert.equal((await childPids(server.pid)).length, 2, 'worker processes');
      } else {
        assert.equal(server.modeText, 'single-process');
        assert.deepEqual(await childPids(server.pid), [], 'single-process mode has no child processes');
      }
      const exit = await server.stop('SIGINT');
      assert.equal(exit.code, 0, exit.stderr);
    });
  });
}

test('--workers 3 starts 3 workers and says so', async (t) => {
  const dir = await tempDir(t);
  const target = join(dir, 'x.jsonl');
  const server = await startCli(t, { target, multithreaded: true, workers: 3, env: cleanEnv() });
  assert.equal(server.modeText, 'multithreaded with 3 workers');
  assert.equal((await childPids(server.pid)).length, 3);
  const exit = await server.stop('SIGTERM');
  assert.equal(exit.code, 0, exit.stderr);
});
