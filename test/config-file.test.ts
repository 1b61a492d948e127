/**
 * `--config FILE` (or LOG_SERVER_CONFIG): the options as JSON, keys as the long flags. Flags win over the
 * environment, which wins over the file, which wins over the defaults; a file that cannot be used is refused with
 * exit 2 and a line naming it and what is wrong, before anything is opened.
 */
import assert from 'node:assert/strict';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { cleanEnv, readLines, runCli, send, stackLines, startCli, tempDir, waitForLines } from './helpers';

test('options from a config file apply; flags and LOG_SERVER_* win over it', async (t) => {
  const dir = await tempDir(t);
  const fileTarget = join(dir, 'from-file.jsonl');
  const envTarget = join(dir, 'from-env.jsonl');
  const flagTarget = join(dir, 'from-flag.jsonl');
  const config = join(dir, 'log-server.json');
  writeFileSync(config, JSON.stringify({ host: '127.0.0.2', port: 0, target: fileTarget, utc: true, 'max-connections': '77' }));

  // The environment wins over the file (LOG_SERVER_HOST over "host"); the file gives the target.
  const first = await startCli(t, { rawArgs: ['--config', config], env: cleanEnv({ LOG_SERVER_HOST: '127.0.0.1' }) });
  assert.match(first.stderr(), /^log-server: listening on 127\.0\.0\.1:\d+, writing .*from-file\.jsonl, /m);
  await first.stop('SIGINT');

  // A flag wins over the environment and the file (--target over LOG_SERVER_TARGET over "target"), and the
  // file still gives the rest: created_human in UTC, as "utc": true asks.
  const server = await startCli(t, {
    rawArgs: ['--config', config, '--host', '127.0.0.1', '--target', flagTarget],
    env: cleanEnv({ LOG_SERVER_TARGET: envTarget }),
  });
  assert.match(server.stderr(), /^log-server: listening on 127\.0\.0\.1:\d+, writing .*from-flag\.jsonl, /m);
  const sent = await send(['plain', '127.0.0.1', String(server.port), '1']);
  assert.equal(sent.code, 0, sent.stderr);
  await waitForLines(flagTarget, 1);
  await server.stop('SIGINT');
  const [line] = await readLines(flagTarget);
  const { created, created_human } = JSON.parse(line) as { created: number; created_human: string };
  const utc = new Date(created * 1000).toISOString().replace('T', ' ').slice(0, 19);
  assert.equal(created_human.slice(0, 19), utc, 'created_human in UTC, as the file says');
  assert.equal(existsSync(envTarget), false, 'the environment target was not used');
});

test('LOG_SERVER_CONFIG names the file as --config does', async (t) => {
  const dir = await tempDir(t);
  const config = join(dir, 'c.json');
  writeFileSync(config, JSON.stringify({ host: '127.0.0.1', port: 0, target: join(dir, 'named-in-file.jsonl') }));
  const server = await startCli(t, { rawArgs: [], env: cleanEnv({ LOG_SERVER_CONFIG: config }) });
  assert.match(server.stderr(), /^log-server: listening on 127\.0\.0\.1:\d+, writing .*named-in-file\.jsonl, /m);
  await server.stop('SIGINT');
});

test('a config file that cannot be used is refused with exit 2, naming the file and what is wrong', async (t) => {
  const dir = await tempDir(t);
  const target = join(dir, 'logs.jsonl');
  const write = (name: string, text: string) => {
    writeFileSync(join(dir, name), text);
    return join(dir, name);
  };
  const cases: [string, RegExp][] = [
    [join(dir, 'missing.json'), /^log-server: cannot read config file .*missing\.json: no such file \(see log-server --help\)$/m],
    [write('bad.json', '{"port": 90'), /^log-server: config file .*bad\.json is not JSON: /m],
    [write('array.json', '[1, 2]'), /^log-server: config file .*array\.json must hold one JSON object of options/m],
    [
      write('camel.json', '{"maxSize": "10M"}'),
      /^log-server: config file .*camel\.json: "maxSize" is not an option \(write it as the long flag: "max-size"\)/m,
    ],
    [write('unknown.json', '{"colour": "red"}'), /^log-server: config file .*unknown\.json: "colour" is not an option/m],
    [write('yes.json', '{"utc": "yes"}'), /^log-server: config file .*yes\.json: "utc" must be true or false, not "yes"/m],
    [write('object.json', '{"port": {"n": 1}}'), /^log-server: config file .*object\.json: "port" must be a string or a number/m],
    [write('abc.json', '{"port": "abc"}'), /^log-server: port must be an integer from 0 to 65535, not "abc"/m],
  ];
  for (const [file, message] of cases) {
    const r = await runCli(['--config', file, '--target', target], { env: cleanEnv(), timeoutMs: 10_000 });
    assert.equal(r.code, 2, `${file}: exit ${r.code}\n${r.stderr}`);
    assert.match(r.stderr, message, file);
    assert.deepEqual(stackLines(r.stderr), []);
  }
  assert.equal(existsSync(target), false, 'nothing was opened');
});
