/**
 * Every installed Python from 2.7 to 3.13, through its stock SocketHandler, sends the same records
 * (test/python/every_python.py); each line must equal the one Python 3.11's client gives, but for the fields that
 * differ by version or by run (times, ids, taskName from 3.12, stack_info from 3.2, the traceback's text). A
 * Python 2 str holding UTF-8 is the text it holds ("café", not "cafÃ©"). A version that is not installed is
 * reported (the test is skipped with its name), not silently passed.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { test } from 'node:test';
import { PYTHON_DIR, run, startCli, tempDir, waitForLines } from './helpers';

const VERSIONS = ['2.7.18', '3.6.15', '3.7.16', '3.8.18', '3.9.18', '3.10.13', '3.11.7', '3.12.1', '3.13.0'];
const REFERENCE = '3.11.7';
const SCRIPT = join(PYTHON_DIR, 'every_python.py');
const RECORDS = 4;
/** Fields whose value differs by run or by version. */
const VARYING = new Set(['created', 'created_human', 'msecs', 'relativeCreated', 'thread', 'process', 'exc_text', 'tag']);
/** Fields that only some versions send. */
const OPTIONAL = new Set(['stack_info', 'taskName']);

const installed = (v: string) =>
  spawnSync('python', ['-c', 'pass'], { env: { ...process.env, PYENV_VERSION: v }, stdio: 'ignore' }).status === 0;

test('the same records from every Python, 2.7 to 3.13, make the same lines', { timeout: 180_000 }, async (t) => {
  const present = VERSIONS.filter(installed);
  const missing = VERSIONS.filter((v) => !present.includes(v));
  if (!present.includes(REFERENCE) || present.length < 2) {
    t.skip(`pyenv Pythons missing: ${missing.join(', ')} (PYENV_VERSION=V python must run each)`);
    return;
  }
  if (missing.length > 0) t.diagnostic(`not installed, not tested: ${missing.join(', ')}`);
  const dir = await tempDir(t);
  const target = join(dir, 'logs.jsonl');
  const server = await startCli(t, { target });
  for (const v of present) {
    const r = await run('python', [SCRIPT, '127.0.0.1', String(server.port), v], {
      env: { ...process.env, PYENV_VERSION: v },
      timeoutMs: 30_000,
    });
    assert.equal(r.code, 0, `Python ${v}: ${r.stderr}`);
  }
  const lines = (await waitForLines(target, present.length * RECORDS)).map((l) => JSON.parse(l) as Record<string, unknown>);
  await server.stop('SIGINT');
  const byVersion = new Map<string, Record<string, unknown>[]>();
  for (const line of lines) byVersion.set(String(line.tag), [...(byVersion.get(String(line.tag)) ?? []), line]);
  const comparable = (line: Record<string, unknown>) =>
    Object.fromEntries(Object.entries(line).filter(([k]) => !VARYING.has(k) && !OPTIONAL.has(k)));
  const reference = (byVersion.get(REFERENCE) ?? []).sort((a, b) => Number(a.n) - Number(b.n));
  assert.equal(reference.length, RECORDS);
  // Python 2's UTF-8 str, Python 3's str: the same text.
  assert.equal(reference[1].message, 'café');
  assert.equal(reference[2].utf8, 'café');
  assert.equal(reference[2].not_utf8, '\\xff\\xfeok');
  for (const v of present) {
    const got = (byVersion.get(v) ?? []).sort((a, b) => Number(a.n) - Number(b.n));
    assert.equal(got.length, RECORDS, `Python ${v}: ${got.length} records`);
    for (let i = 0; i < RECORDS; i++) {
      // The fields as sent, in the order sent: Python 2's dicts have no order of their own.
      const keys = (line: Record<string, unknown>) =>
        v.startsWith('2.') ? Object.keys(comparable(line)).sort() : Object.keys(comparable(line));
      assert.deepEqual(keys(got[i]), keys(reference[i]), `Python ${v} record ${i + 1}: the same fields, in order`);
      assert.deepEqual(comparable(got[i]), comparable(reference[i]), `Python ${v} record ${i + 1}`);
      assert.match(String(got[3].exc_text), /ZeroDivisionError/, `Python ${v}: the traceback`);
    }
  }
});
