/**
 * The decoder and formatter against fixtures made by real Python (scripts/make-fixtures.py): every value kind,
 * pickle protocols 0–5, tracebacks, stack_info, unicode. The expected lines come from the reference
 * implementation of the output rules in scripts/reference_line.py.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodePickle } from '../src/decode/fallback';
import { formatEntry } from '../src/format/entry';
import { makeHumanTime } from '../src/format/time';

import { decoderCases as cases, refusedCases as refused } from './fixtures';
import { RefusedRecord } from '../src/core/refusals';
const utc = makeHumanTime(true);

const lineOf = (b64: string) => formatEntry(decodePickle(Buffer.from(b64, 'base64')), utc);

test('fixtures are present', () => {
  assert.ok(cases.length > 500, `only ${cases.length} decoder cases`);
  assert.ok(refused.length > 50, `only ${refused.length} refused cases`);
  assert.deepEqual([...new Set(cases.map((c) => c.protocol))].sort(), [0, 1, 2, 3, 4, 5]);
});

test('every fixture decodes to exactly the line Python expects', () => {
  const failures: string[] = [];
  for (const c of cases) {
    let got: string;
    try {
      got = lineOf(c.pickle);
    } catch (err) {
      got = `THREW ${(err as Error).message}`;
    }
    if (got !== c.line + '\n')
      failures.push(`${c.name} (protocol ${c.protocol}):\n  want ${c.line.slice(0, 400)}\n  got  ${got.slice(0, 400)}`);
  }
  assert.equal(failures.length, 0, `${failures.length} of ${cases.length} differ:\n${failures.slice(0, 15).join('\n')}`);
});

test('every refused fixture is refused with its reason', () => {
  const failures: string[] = [];
  for (const c of refused) {
    try {
      const line = lineOf(c.pickle);
      failures.push(`${c.name}: written as ${line.slice(0, 200)}`);
    } catch (err) {
      if (!(err instanceof RefusedRecord)) failures.push(`${c.name}: threw ${(err as Error).stack}`);
      else if (err.code !== c.reason) failures.push(`${c.name}: refused as ${err.code} (${err.message}), want ${c.reason}`);
    }
  }
  assert.equal(failures.length, 0, `${failures.length} of ${refused.length} wrong:\n${failures.slice(0, 15).join('\n')}`);
});

test('a pickle that names os.system runs nothing and is refused', () => {
  const evil = Buffer.from("cos\nsystem\n(S'touch /tmp/log-server-pwned'\ntR.", 'latin1');
  assert.throws(
    () => formatEntry(decodePickle(evil), utc),
    (e: unknown) => e instanceof RefusedRecord && e.code === 'not-a-dict',
  );
  const inDict = Buffer.from("(dp0\nVcreated\np1\nF1.5\nsVx\ncos\nsystem\n(S'touch /tmp/log-server-pwned'\ntRs.", 'latin1');
  const line = formatEntry(decodePickle(inDict), utc);
  assert.match(line, /"x":\{"__class__":"os\.system","args":\["touch \/tmp\/log-server-pwned"\]\}/);
});
