/**
 * examples/log-server.service is a unit systemd accepts (`systemd-analyze verify`, where systemd's tools are
 * installed), and it starts what the README says: node on dist/cli.js, options in LOG_SERVER_* variables that
 * the server reads.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { ROOT, run, tempDir } from './helpers';
import { OPTION_SPECS, envName, type OptionSpec } from '../src/config/spec';
import { resolveOptions } from '../src/config/options';

const UNIT = join(ROOT, 'examples', 'log-server.service');

test('systemd-analyze verify accepts examples/log-server.service', async (t) => {
  if (spawnSync('systemd-analyze', ['--version'], { stdio: 'ignore' }).status !== 0) {
    t.skip('systemd-analyze is not installed (Debian: apt-get install -y systemd)');
    return;
  }
  const text = readFileSync(UNIT, 'utf8');
  assert.match(text, /^ExecStart=\/usr\/bin\/node \/opt\/log-server\/dist\/cli\.js$/m);
  // verify checks that ExecStart names an executable: where node is elsewhere, the copy names that one.
  const node = spawnSync('sh', ['-c', 'command -v node']).stdout.toString().trim();
  const dir = await tempDir(t);
  const unit = join(dir, 'log-server.service');
  copyFileSync(UNIT, unit);
  if (node !== '/usr/bin/node') writeFileSync(unit, text.replace('ExecStart=/usr/bin/node', `ExecStart=${node}`));
  const r = await run('systemd-analyze', ['verify', unit]);
  assert.equal(r.code, 0, `${r.stdout}${r.stderr}`);
});

test("the unit's options are ones the server reads (every LOG_SERVER_* in it is a known option with a valid value)", async () => {
  const text = readFileSync(UNIT, 'utf8');
  const env = Object.fromEntries([...text.matchAll(/^Environment=(LOG_SERVER_[A-Z_]+)=(.*)$/gm)].map((m) => [m[1], m[2]]));
  assert.ok(Object.keys(env).length >= 3, 'the unit sets its options in the environment');
  const specs = OPTION_SPECS as readonly OptionSpec[];
  const known = new Set(specs.map((s) => envName(s.flag)));
  for (const name of Object.keys(env)) assert.ok(known.has(name), `${name} is an option`);
  const given = Object.fromEntries(Object.entries(env).map(([name, value]) => [specs.find((s) => envName(s.flag) === name)!.key, value]));
  assert.doesNotThrow(() => resolveOptions({ ...given, multithreaded: given.multithreaded === 'true', allow: [String(given.allow)] }));
});
