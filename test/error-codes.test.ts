/**
 * A library user tells the failures of a start apart by `code`, not by the text: a port in use, a target locked
 * by another server, a bad option; each ServerError keeps the system's error as `cause` where there is one.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { startServer } from '../src/server/start';
import { ERROR_CODES, OptionError, ServerError } from '../src/core/errors';
import { silentReporter } from '../src/core/report';
import { occupyPort, tempDir } from './helpers';

const base = { host: '127.0.0.1', reporter: silentReporter, udp: false };

test('a port in use: LOGSERVER_ERR_ADDRESS_IN_USE, with the system error as its cause', async (t) => {
  const port = await occupyPort(t);
  const target = join(await tempDir(t), 'logs.jsonl');
  await assert.rejects(startServer({ ...base, port, target }), (err: unknown) => {
    assert.ok(err instanceof ServerError);
    assert.equal(err.code, 'LOGSERVER_ERR_ADDRESS_IN_USE');
    assert.equal((err.cause as NodeJS.ErrnoException).code, 'EADDRINUSE');
    assert.match(err.message, /^cannot listen on 127\.0\.0\.1:\d+: the address is already in use/);
    return true;
  });
});

test('a target another server holds: LOGSERVER_ERR_LOCKED', { timeout: 60_000 }, async (t) => {
  const target = join(await tempDir(t), 'logs.jsonl');
  const first = await startServer({ ...base, port: 0, target });
  t.after(() => first.close());
  await assert.rejects(startServer({ ...base, port: 0, target }), (err: unknown) => {
    assert.ok(err instanceof ServerError);
    assert.equal(err.code, 'LOGSERVER_ERR_LOCKED');
    return true;
  });
});

test('a bad option: an OptionError, code LOGSERVER_ERR_BAD_OPTION, naming the option', async () => {
  await assert.rejects(startServer({ ...base, port: 70000 }), (err: unknown) => {
    assert.ok(err instanceof OptionError);
    assert.equal(err.code, 'LOGSERVER_ERR_BAD_OPTION');
    assert.match(err.message, /^port must be an integer from 0 to 65535, not 70000$/);
    return true;
  });
});

test('the codes are one list, each documented in the README', async () => {
  const { readFileSync } = await import('node:fs');
  const readme = readFileSync(join(__dirname, '..', 'README.md'), 'utf8');
  for (const code of ERROR_CODES) assert.ok(readme.includes(`| \`${code}\` |`), `README lists ${code}`);
});
