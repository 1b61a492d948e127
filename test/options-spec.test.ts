/**
 * The options come from one table (src/config/spec.ts): the CLI's --help, the defaults, the environment names and
 * the README's option table all agree with it.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { OPTION_SPECS, envName, type OptionSpec } from '../src/config/spec';
import { DEFAULTS, resolveOptions } from '../src/config/options';
import { BEGIN, END, optionsTable } from '../scripts/lib/options-table';
import { ROOT, runCli } from './helpers';

const specs = OPTION_SPECS as readonly OptionSpec[];

test("the README's option table is the one the code makes (scripts/options-table.ts --write mends it)", () => {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const from = readme.indexOf(BEGIN);
  const to = readme.indexOf(END);
  assert.ok(from >= 0 && to > from, 'README.md holds the option table markers');
  assert.equal(readme.slice(from, to + END.length), optionsTable());
});

test('--help names every option of the table with its default', async () => {
  const r = await runCli(['--help']);
  assert.equal(r.code, 0, r.stderr);
  for (const s of specs) {
    assert.match(r.stdout, new RegExp(`--${s.flag}\\b`), `--help names --${s.flag}`);
    if (s.defaultText !== undefined)
      assert.ok(r.stdout.includes(`[default: ${s.defaultText}]`), `--help gives --${s.flag}'s default as ${s.defaultText}`);
  }
});

test('resolveOptions() fills in every fixed default of the table', () => {
  const o = resolveOptions({}) as unknown as Record<string, unknown>;
  for (const s of specs) {
    if (s.default === undefined || s.key === 'workers') continue;
    assert.deepEqual(o[s.key], s.default, s.key);
    assert.deepEqual((DEFAULTS as Record<string, unknown>)[s.key], s.default, s.key);
  }
  assert.ok(Number.isInteger(o.workers) && (o.workers as number) >= 1, 'workers 0 = one per CPU');
});

test('every integer option is read from its environment variable LOG_SERVER_<FLAG>', async () => {
  const names = new Set(specs.map((s) => envName(s.flag)));
  assert.equal(names.size, specs.length, 'one variable per option');
  // A bad value in the variable makes the CLI name the option: the variable was read, under that name.
  for (const s of specs.filter((s) => s.kind === 'integer')) {
    const r = await runCli([], { env: { ...process.env, [envName(s.flag)]: '-1' } });
    assert.equal(r.code, 2, `${envName(s.flag)}=-1: ${r.stderr}`);
    assert.match(r.stderr, new RegExp(`^log-server: ${s.flag} must be `, 'm'), `${envName(s.flag)}=-1`);
  }
});
