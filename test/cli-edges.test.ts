/**
 * The rough edges a new user meets at the command line: a bad value is refused with what was typed, a repeated
 * single-valued flag wins last, a flag that needs a value and got none is refused, a boolean that is not true or
 * false is refused, `tail` of a directory says so, a start that fails leaves no empty target behind.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { occupyPort, runCli, send, stackLines, startCli, tempDir } from './helpers';

/** Runs the CLI with `args` (and `env` added), which must exit 2 with `message` (and no stack trace). */
async function refused(args: string[], message: RegExp, env: NodeJS.ProcessEnv = {}): Promise<void> {
  const r = await runCli(args, { env: { ...process.env, ...env }, timeoutMs: 10_000 });
  assert.equal(r.code, 2, `${args.join(' ')}: exit ${r.code}\n${r.stderr}`);
  assert.match(r.stderr, message, args.join(' '));
  assert.deepEqual(stackLines(r.stderr), []);
}

test('a number that is not one is refused with what was typed, from a flag or the environment', async () => {
  await refused(['--port', 'abc'], /^log-server: port must be an integer from 0 to 65535, not "abc" \(see log-server --help\)$/m);
  await refused([], /^log-server: port must be an integer from 0 to 65535, not "abc"/m, { LOG_SERVER_PORT: 'abc' });
  await refused(['--workers', 'abc', '--multithreaded'], /^log-server: workers must be an integer from 1 to 256, not "abc"/m);
  await refused(['tail', '-n', 'abc', '/dev/null'], /^log-server tail: -n must be a whole number of entries, not "abc"/m);
});

test('--workers 0 is refused (not silently one per CPU); --multithreaded=maybe and LOG_SERVER_UTC=yes are refused', async () => {
  await refused(['--workers', '0', '--multithreaded'], /^log-server: workers must be an integer from 1 to 256, not 0 /m);
  await refused(['--multithreaded=maybe'], /^log-server: multithreaded must be true or false, not "maybe"/m);
  await refused([], /^log-server: LOG_SERVER_UTC must be true or false, not "yes"/m, { LOG_SERVER_UTC: 'yes' });
});

test('a bare --target (no value) is refused, not taken as logs.txt', async () => {
  await refused(['--target'], /^log-server: --target needs a value \(a file path; --no-target for none, with --forward\)/m);
  await refused(['--target', '--port', '0'], /^log-server: --target needs a value/m);
});

test('a single-valued flag given twice: the last wins (--host as --target does)', async (t) => {
  const dir = await tempDir(t);
  const target = join(dir, 'logs.jsonl');
  const server = await startCli(t, { rawArgs: ['--host', '127.0.0.2', '--host', '127.0.0.1', '--port', '0', '--target', target] });
  assert.match(server.stderr(), /^log-server: listening on 127\.0\.0\.1:\d+, /m);
  await server.stop('SIGINT');
});

test('tail of a directory says so in one line under its own name, exit 1', async (t) => {
  const dir = await tempDir(t);
  mkdirSync(join(dir, 'logs'));
  for (const args of [
    ['tail', join(dir, 'logs')],
    ['tail', '-n', '5', join(dir, 'logs')],
  ]) {
    const r = await runCli(args);
    assert.equal(r.code, 1, r.stderr);
    assert.equal(r.stderr, `log-server tail: cannot read ${join(dir, 'logs')}: it is a directory (give a log file in it)\n`);
  }
});

test('a start that fails (port in use) leaves no empty target file, nor a rejects file, behind', async (t) => {
  const dir = await tempDir(t);
  const port = await occupyPort(t);
  const target = join(dir, 'logs.jsonl');
  const r = await runCli(['--host', '127.0.0.1', '--port', String(port), '--target', target, '--rejects', join(dir, 'rejects.jsonl')]);
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /already in use/);
  assert.equal(existsSync(target), false, 'no empty target left behind');
  assert.equal(existsSync(join(dir, 'rejects.jsonl')), false, 'no empty rejects file left behind');
  assert.equal(existsSync(`${target}.lock`), false, 'no lock left behind');
});

test('the stop line counts one record as "1 record"', async (t) => {
  const dir = await tempDir(t);
  const server = await startCli(t, { target: join(dir, 'logs.jsonl') });
  const sent = await send(['plain', '127.0.0.1', String(server.port), '1']);
  assert.equal(sent.code, 0, sent.stderr);
  const exit = await server.stop('SIGINT');
  assert.match(exit.stderr, /^log-server: stopped; wrote 1 record to .*logs\.jsonl$/m);
});
