/**
 * End to end: the built CLI (dist/cli.js) as a child process, real python3 clients sending through
 * logging.handlers.SocketHandler, and the target file checked line by line. Every scenario runs in both modes:
 * single-process, and --multithreaded --workers 2. Expected lines come from scripts/reference_line.py
 * (utc=True), so the server runs with --utc.
 */
import { describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import {
  MODES,
  ROOT,
  SEND,
  assertBuilt,
  assertStoppedCleanly,
  connect,
  endSocket,
  frame,
  python,
  readLines,
  send,
  sleep,
  startCli,
  tempDir,
  waitForLines,
  type Exit,
  type Mode,
} from './helpers';

assertBuilt();

import { decoderCases, refusedCases, type Case } from './fixtures';

function fixture<T extends { name: string }>(list: T[], name: string, protocol?: number): T {
  const found = list.find((c) => c.name === name && (protocol === undefined || (c as unknown as Case).protocol === protocol));
  assert.ok(found, `fixture ${name} (protocol ${protocol}) not found`);
  return found;
}

/** The server stopped cleanly: exit code 0, its summary line says `written` records, no stack trace, and (unless
 * `expectRefusals`) no refused frames, dead workers or write errors reported. */
function assertCleanStop(exit: Exit, written: number, expectRefusals = false): void {
  assertStoppedCleanly(exit, { written, quiet: !expectRefusals });
}

/** Every line must be strict JSON for Python too (json.loads without NaN/Infinity literals). */
async function assertPythonParses(file: string, count: number): Promise<void> {
  const r = await python([SEND, 'check-json', file]);
  assert.equal(r.stdout.trim(), String(count), `python check-json: ${r.stdout} ${r.stderr}`);
}

/** A string with everything outside printable ASCII as \uXXXX, so that a difference in invisible characters shows. */
const visible = (s: string) => JSON.stringify(s).replace(/[^\x20-\x7e]/g, (c) => '\\u' + c.charCodeAt(0).toString(16).padStart(4, '0'));

/** Compares lines as strings, listing every difference (with where it starts) in the failure message. */
function assertSameLines(got: string[], want: string[], what: string): void {
  const diffs: string[] = [];
  for (let i = 0; i < Math.max(got.length, want.length); i++) {
    const g = got[i];
    const w = want[i];
    if (g === w) continue;
    if (g === undefined || w === undefined) {
      diffs.push(`line ${i + 1}: ${g === undefined ? 'missing' : 'extra'}: ${(g ?? w).slice(0, 200)}`);
      continue;
    }
    let at = 0;
    while (at < g.length && g[at] === w[at]) at++;
    const from = Math.max(0, at - 60);
    diffs.push(
      `line ${i + 1} differs at char ${at}:\n    got  …${visible(g.slice(from, at + 80))}\n    want …${visible(w.slice(from, at + 80))}`,
    );
  }
  assert.equal(diffs.length, 0, `${what}: ${diffs.length} of ${want.length} lines differ (got ${got.length}):\n${diffs.join('\n')}`);
}

const FIRST_KEYS = ['message', 'levelname', 'created', 'created_human'];

function e2e(mode: Mode) {
  const env = mode.env && { ...process.env, ...mode.env };
  const serve = (t: TestContext, target: string) => startCli(t, { target, multithreaded: mode.multithreaded, workers: 2, utc: true, env });

  test('the example client: 21 records, stopped by SIGINT', async (t) => {
    const dir = await tempDir(t);
    const target = join(dir, 'logs.jsonl');
    const server = await serve(t, target);
    await python([join(ROOT, 'examples', 'remote_logging_app.py'), '127.0.0.1', String(server.port)]);
    const exit = await server.stop('SIGINT');
    assertCleanStop(exit, 21);
    // The C++ transcoder is built for the tests (npm install); the start line says when it is not used.
    assert.equal(
      /decoding with the TypeScript transcoder.*LOGSERVER_NATIVE=0 is set/.test(exit.stderr),
      mode.env?.LOGSERVER_NATIVE === '0',
      exit.stderr,
    );
    // So do sockets: one reused read buffer, unless that is turned off.
    assert.equal(
      /reading sockets into a new buffer per read .*LOGSERVER_READ_INTO=0 is set/.test(exit.stderr),
      mode.env?.LOGSERVER_READ_INTO === '0',
      exit.stderr,
    );

    const lines = await readLines(target);
    assert.equal(lines.length, 21, `want 21 lines, got ${lines.length}`);
    const records = lines.map((l, i) => {
      try {
        return JSON.parse(l) as Record<string, unknown>;
      } catch (err) {
        assert.fail(`line ${i + 1} is not JSON (${(err as Error).message}): ${l.slice(0, 200)}`);
      }
    });
    const messages = records.map((r) => r.message);
    const factorial = (n: number): number => (n <= 1 ? 1 : n * factorial(n - 1));
    const want: string[] = [];
    for (let i = 0; i < 10; i++) want.push(`Factorial ${i}`, `Factorial(${i}) = ${factorial(i)}`);
    want.push('Processing item 42');
    assert.deepEqual(messages, want);
    assert.ok(messages.includes('Factorial(5) = 120'));
    for (const r of records) {
      assert.equal(r.levelname, 'INFO');
      assert.equal(r.name, 'remote_logging_app');
      assert.deepEqual(Object.keys(r).slice(0, 4), FIRST_KEYS);
    }
    const last = records[20];
    assert.equal(last.user_id, 1234);
    assert.equal(last.operation, 'process_item');
    assert.equal(last.msg, 'Processing item 42');
    assert.equal(last.args, null);
    await assertPythonParses(target, 21);
  });

  test('4 clients at once, 2000 records each: all there, once, in order per connection, strict JSON', async (t) => {
    const dir = await tempDir(t);
    const target = join(dir, 'logs.jsonl');
    const server = await serve(t, target);
    const CLIENTS = 4;
    const N = 2000;
    await Promise.all(Array.from({ length: CLIENTS }, (_, k) => send(['burst', '127.0.0.1', String(server.port), String(k), String(N)])));
    await waitForLines(target, CLIENTS * N, 60_000);
    const exit = await server.stop('SIGINT');
    assertCleanStop(exit, CLIENTS * N);

    const lines = await readLines(target);
    assert.equal(lines.length, CLIENTS * N);
    const seen = new Set<string>();
    const lastSeq = new Array<number>(CLIENTS).fill(-1);
    const counts = new Array<number>(CLIENTS).fill(0);
    lines.forEach((line, i) => {
      let r: { message: string; client: number; seq: number };
      try {
        r = JSON.parse(line);
      } catch (err) {
        assert.fail(`line ${i + 1} is not JSON (${(err as Error).message}): ${line.slice(0, 200)}`);
      }
      const key = `${r.client}/${r.seq}`;
      assert.ok(!seen.has(key), `duplicate record ${key} at line ${i + 1}`);
      seen.add(key);
      assert.ok(Number.isInteger(r.client) && r.client >= 0 && r.client < CLIENTS, `bad client at line ${i + 1}: ${line.slice(0, 200)}`);
      assert.ok(r.seq > lastSeq[r.client], `client ${r.client}: seq ${r.seq} after ${lastSeq[r.client]} (line ${i + 1})`);
      assert.equal(r.message, `client ${r.client} record ${r.seq}`);
      lastSeq[r.client] = r.seq;
      counts[r.client]++;
    });
    assert.deepEqual(counts, new Array<number>(CLIENTS).fill(N));
    assert.deepEqual(lastSeq, new Array<number>(CLIENTS).fill(N - 1));
    await assertPythonParses(target, CLIENTS * N);
  });

  test('every field of many value kinds is exactly what the Python reference expects', async (t) => {
    const dir = await tempDir(t);
    const target = join(dir, 'logs.jsonl');
    const expectedFile = join(dir, 'expected.jsonl');
    const server = await serve(t, target);
    await send(['kinds', '127.0.0.1', String(server.port), expectedFile]);
    const want = await readLines(expectedFile);
    assert.ok(want.length >= 40, `the sender wrote only ${want.length} expected lines`);
    await waitForLines(target, want.length).catch(() => {}); // the comparison below says what is missing
    const exit = await server.stop('SIGINT');
    const got = await readLines(target);
    assertSameLines(got, want, 'server lines vs reference_line.to_line');
    assertCleanStop(exit, want.length);

    for (const [i, line] of got.entries()) {
      const r = JSON.parse(line) as Record<string, unknown>;
      assert.deepEqual(Object.keys(r).slice(0, 4), FIRST_KEYS, `key order of line ${i + 1}`);
      assert.ok(line.startsWith('{"message":'), `line ${i + 1} starts ${line.slice(0, 40)}`);
    }
    // Spot checks that do not depend on the reference, on each variant (see VARIANTS in send_records.py).
    const records = got.map((l) => JSON.parse(l) as Record<string, unknown>);
    const fixed = records.filter((r) => r.message === 'fixed created');
    assert.equal(fixed.length, 2);
    for (const r of fixed) {
      assert.equal(r.created, 1695651604.501);
      assert.equal(r.created_human, '2023-09-25 14:20:04.501');
    }
    const variants = (prefix: string) => {
      const found = got.filter((l) => l.startsWith(`{"message":${JSON.stringify(prefix).slice(0, -1)} [`));
      assert.equal(found.length, 3, `lines for ${prefix}`);
      return found;
    };
    for (const l of variants('ints')) {
      assert.match(l, /"big":1180591620717411303424,"neg_big":-1180591620717411303424,"above_2_53":9007199254740993,/);
    }
    for (const l of variants('floats')) {
      assert.match(l, /"neg_zero":-0\.0,"one":1\.0,"tiny":1e-05,"nan":"NaN","inf":"Infinity","ninf":"-Infinity",/);
    }
    for (const l of variants('\ufeffa message that starts with a BOM')) {
      assert.ok(l.startsWith('{"message":"\ufeffa message'), `the BOM was lost: ${l.slice(0, 40)}`);
    }
    for (const l of variants('js names')) {
      const r = JSON.parse(l) as Record<string, unknown>;
      assert.ok(Object.prototype.hasOwnProperty.call(r, '__proto__'), '__proto__ kept as a plain key');
      assert.deepEqual(Object.getOwnPropertyDescriptor(r, '__proto__')?.value, { polluted: true });
      assert.equal(r.constructor, 'c');
    }
    for (const l of variants('with traceback here')) {
      const r = JSON.parse(l) as Record<string, unknown>;
      assert.match(String(r.exc_text), /^Traceback \(most recent call last\):\n[\s\S]*KeyError: 'missing'$/);
      assert.equal(r.exc_info, null);
      assert.equal(r.levelname, 'ERROR');
    }
    for (const l of variants('with stack')) {
      assert.match(String((JSON.parse(l) as Record<string, unknown>).stack_info), /^Stack \(most recent call last\):\n/);
    }
    await assertPythonParses(target, got.length);
  });

  test('bad frames are refused and the connection goes on', async (t) => {
    const dir = await tempDir(t);
    const target = join(dir, 'logs.jsonl');
    const server = await serve(t, target);
    const good1 = fixture(decoderCases, 'record/info', 1);
    const good2 = fixture(decoderCases, 'record/warning', 2);
    const good3 = fixture(decoderCases, 'record/error', 4);
    const list = fixture(refusedCases, 'not-a-dict/list/p2');
    assert.equal(list.reason, 'not-a-dict');
    const b64 = (s: string) => Buffer.from(s, 'base64');

    const socket = await connect(t, server.port);
    socket.write(frame(b64(good1.pickle)));
    await sleep(50);
    socket.write(frame(Buffer.from('this is garbage, not a pickle \xff\xfe', 'latin1')));
    await sleep(50);
    socket.write(frame(b64(list.pickle))); // a list (holding a record dict), not a dict
    await sleep(50);
    socket.write(frame(b64(good2.pickle)));
    const lines = await waitForLines(target, 2);
    assert.deepEqual(lines, [good1.line, good2.line]);

    // Both refusals are reported (bounded wait: the lines may come from a worker).
    const deadline = Date.now() + 5000;
    while ((server.stderr().match(/refused a frame/g) ?? []).length < 2 && Date.now() < deadline) await sleep(25);
    assert.equal((server.stderr().match(/refused a frame/g) ?? []).length, 2, `stderr:\n${server.stderr()}`);
    assert.equal(server.exited, false, 'the server stopped after bad frames');

    // The same connection still works, and so does a new one.
    socket.write(frame(b64(good3.pickle)));
    await waitForLines(target, 3);
    await endSocket(socket);
    const other = await connect(t, server.port);
    await endSocket(other, frame(b64(good1.pickle)));
    await waitForLines(target, 4);

    const exit = await server.stop('SIGINT');
    assertCleanStop(exit, 4, true);
    assert.match(
      exit.stderr,
      /stopped; wrote 4 records to .*; refused 2 \((?=.*bad-pickle 1)(?=.*not-a-dict 1)/m,
      `stderr:\n${exit.stderr}`,
    );
    assert.deepEqual(await readLines(target), [good1.line, good2.line, good3.line, good1.line]);
  });

  test('a message of 800,000 characters (0.94 MB of UTF-8, near the 1 MiB --max-frame) lands intact, in order between two small records', async (t) => {
    const dir = await tempDir(t);
    const target = join(dir, 'logs.jsonl');
    const expectedFile = join(dir, 'expected.jsonl');
    const server = await serve(t, target);
    const SIZE = 800_000;
    await send(['big', '127.0.0.1', String(server.port), expectedFile, String(SIZE)]);
    const want = await readLines(expectedFile);
    assert.equal(want.length, 3);
    await waitForLines(target, 3).catch(() => {});
    const exit = await server.stop('SIGINT');
    const got = await readLines(target);
    assert.equal(got.length, 3, `want 3 lines, got ${got.length}`);
    const messages = got.map((l) => (JSON.parse(l) as { message: string }).message);
    assert.equal(messages[0], 'before the big record');
    assert.equal([...messages[1]].length, SIZE, 'code points in the big message');
    assert.equal(messages[2], 'after the big record');
    assertSameLines(got, want, 'big record vs reference_line.to_line');
    assertCleanStop(exit, 3);
  });
}

// The fallbacks, end to end as well: the TypeScript transcoder (where the C++ one cannot be built) and Node's
// per-read buffers (where its internals for reading into one buffer are missing; in multithreaded mode also
// the primary's reads of the lines pipes).
const FALLBACKS: Mode[] = [
  {
    name: 'single-process, TypeScript transcoder and per-read buffers (LOGSERVER_NATIVE=0 LOGSERVER_READ_INTO=0)',
    multithreaded: false,
    env: { LOGSERVER_NATIVE: '0', LOGSERVER_READ_INTO: '0' },
  },
  { name: 'multithreaded (2 workers), per-read buffers (LOGSERVER_READ_INTO=0)', multithreaded: true, env: { LOGSERVER_READ_INTO: '0' } },
];
for (const mode of [...MODES, ...FALLBACKS]) describe(mode.name, () => e2e(mode));
