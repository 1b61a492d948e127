/**
 * The file writer under a clock of the test's own (FileSink's `clock` option) and mocked timers: what the wall
 * clock makes slow or unreliable to test end to end.
 *
 * - hourly names and the hour boundary, in local time and with --utc;
 * - the midnight boundary of --rotate daily, in local time and with --utc;
 * - a failed rotation is reported, the writer keeps writing to the same file, and tries again 5 s later;
 * - a failed write is retried with backoff, 0.1 s doubling to 5 s, every entry kept, written once in order.
 *
 * Local time is Asia/Kolkata (UTC+5:30, no daylight saving time): its midnight and its hours fall at half past a
 * UTC hour, so local and UTC periods never coincide.
 */
process.env.TZ = 'Asia/Kolkata';

import { describe, mock, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { FileSink } from '../src/sink/file';
import { parseInterval } from '../src/config/parse';
import type { Reporter } from '../src/core/report';
import { tempDir } from './helpers';

interface Said {
  kind: string;
  line: string;
}

function recorder(): Reporter & { said: Said[] } {
  const said: Said[] = [];
  return {
    said,
    info: (line) => said.push({ kind: 'info', line }),
    warn: (kind, line) => said.push({ kind, line }),
  };
}

/** A FileSink rotating by `rotate` under a clock set by the test; `write(text)` writes one line and waits for it. */
async function timedSink(t: TestContext, rotate: string, utc: boolean, start: string) {
  const dir = await tempDir(t, 'log-server-clock-');
  const path = join(dir, 'logs.txt');
  let now = Date.parse(start);
  assert.ok(Number.isFinite(now), start);
  const reporter = recorder();
  const interval = parseInterval(rotate);
  assert.ok(interval, rotate);
  const sink = new FileSink(path, {
    reporter,
    lingerMs: 0,
    clock: () => now,
    rotation: { interval, maxFiles: 100, compress: false, utc },
  });
  await sink.open();
  sink.startRotation();
  t.after(() => sink.close());
  return {
    dir,
    path,
    reporter,
    sink,
    /** Sets the clock to `iso` and writes `text` as one line. */
    async at(iso: string, text: string) {
      now = Date.parse(iso);
      assert.ok(Number.isFinite(now), iso);
      sink.write(Buffer.from(`${text}\n`), 1);
      await sink.idle();
    },
    /** The rotated files (names without the directory) and the lines of each, and of the live target. */
    async files(): Promise<Record<string, string[]>> {
      const out: Record<string, string[]> = {};
      for (const name of (await readdir(dir)).filter((n) => n.startsWith('logs.txt') && n !== 'logs.txt.lock').sort()) {
        out[name] = (await readFile(join(dir, name), 'utf8')).split('\n').filter((l) => l !== '');
      }
      return out;
    },
  };
}

describe('--rotate hourly under a fake clock', () => {
  test('local time: named by the local hour; the boundary is the local hour (half past the UTC hour here)', async (t) => {
    const s = await timedSink(t, 'hourly', false, '2026-11-25T08:40:00Z');
    await s.at('2026-11-25T08:40:00Z', 'a'); // 14:10 local
    await s.at('2026-11-25T09:00:00Z', 'b'); // 14:30 local: a new UTC hour, the same local one
    await s.at('2026-11-25T09:29:59.999Z', 'c'); // 14:59:59.999 local
    assert.deepEqual(await s.files(), { 'logs.txt': ['a', 'b', 'c'] });
    await s.at('2026-11-25T09:30:00Z', 'd'); // 15:00 local: the first write of a new hour rotates
    await s.at('2026-11-25T10:29:00Z', 'e');
    await s.at('2026-11-25T10:31:00Z', 'f'); // 16:01 local
    assert.deepEqual(await s.files(), {
      'logs.txt': ['f'],
      'logs.txt.2026-11-25_14': ['a', 'b', 'c'],
      'logs.txt.2026-11-25_15': ['d', 'e'],
    });
  });

  test('--utc: named by the UTC hour; the boundary is the UTC hour', async (t) => {
    const s = await timedSink(t, 'hourly', true, '2026-11-25T08:40:00Z');
    await s.at('2026-11-25T08:40:00Z', 'a');
    await s.at('2026-11-25T08:59:59.999Z', 'b');
    await s.at('2026-11-25T09:00:00Z', 'c');
    await s.at('2026-11-25T09:30:00Z', 'd'); // a new local hour, the same UTC one
    assert.deepEqual(await s.files(), { 'logs.txt': ['c', 'd'], 'logs.txt.2026-11-25_08': ['a', 'b'] });
  });

  test('a quiet hour leaves no file: the next write names the file by the hour its lines were written in', async (t) => {
    const s = await timedSink(t, 'hourly', true, '2026-11-25T08:40:00Z');
    await s.at('2026-11-25T08:40:00Z', 'a');
    await s.at('2026-11-25T11:05:00Z', 'b');
    assert.deepEqual(await s.files(), { 'logs.txt': ['b'], 'logs.txt.2026-11-25_08': ['a'] });
  });
});

describe('--rotate daily: the midnight boundary under a fake clock', () => {
  test('local time: rotates at local midnight (18:30 UTC here), not at UTC midnight; named by the local day', async (t) => {
    const s = await timedSink(t, 'daily', false, '2026-11-25T10:00:00Z');
    await s.at('2026-11-25T10:00:00Z', 'a');
    await s.at('2026-11-25T18:29:59.999Z', 'b'); // 23:59:59.999 on the 25th, local
    assert.deepEqual(await s.files(), { 'logs.txt': ['a', 'b'] });
    await s.at('2026-11-25T18:30:00Z', 'c'); // 00:00 on the 26th, local
    await s.at('2026-11-26T00:00:00Z', 'd'); // UTC midnight: nothing happens
    assert.deepEqual(await s.files(), { 'logs.txt': ['c', 'd'], 'logs.txt.2026-11-25': ['a', 'b'] });
  });

  test('--utc: rotates at UTC midnight, not at local midnight; named by the UTC day', async (t) => {
    const s = await timedSink(t, 'daily', true, '2026-11-25T10:00:00Z');
    await s.at('2026-11-25T10:00:00Z', 'a');
    await s.at('2026-11-25T18:30:00Z', 'b'); // local midnight: nothing happens
    await s.at('2026-11-25T23:59:59.999Z', 'c');
    assert.deepEqual(await s.files(), { 'logs.txt': ['a', 'b', 'c'] });
    await s.at('2026-11-26T00:00:00Z', 'd');
    assert.deepEqual(await s.files(), { 'logs.txt': ['d'], 'logs.txt.2026-11-25': ['a', 'b', 'c'] });
  });
});

describe('a failed rotation', () => {
  test('is reported, the lines go on into the same file, and it is tried again 5 s later, not before', async (t) => {
    const realRename = fs.promises.rename;
    let renames = 0;
    let failing = true;
    mock.method(fs.promises, 'rename', (from: fs.PathLike, to: fs.PathLike) => {
      renames++;
      if (failing) return Promise.reject(Object.assign(new Error('EACCES: permission denied'), { code: 'EACCES' }));
      return realRename(from, to);
    });
    t.after(() => mock.restoreAll());
    const s = await timedSink(t, 'hourly', true, '2026-11-25T08:40:00Z');
    await s.at('2026-11-25T08:40:00Z', 'a');
    await s.at('2026-11-25T09:00:00Z', 'b'); // due: the rename fails
    assert.equal(renames, 1);
    const errors = s.reporter.said.filter((x) => x.kind === 'rotate-error');
    assert.equal(errors.length, 1, JSON.stringify(s.reporter.said));
    assert.match(errors[0].line, /^cannot rotate .*logs\.txt: .*permission denied.*; still writing to it, trying again in 5 s$/i);
    assert.deepEqual(await s.files(), { 'logs.txt': ['a', 'b'] });
    failing = false;
    await s.at('2026-11-25T09:00:04.999Z', 'c'); // within the 5 s: not tried
    assert.equal(renames, 1);
    assert.deepEqual(await s.files(), { 'logs.txt': ['a', 'b', 'c'] });
    await s.at('2026-11-25T09:00:05Z', 'd'); // tried again, and it works: the file is named by its first line's hour
    assert.equal(renames, 2);
    assert.deepEqual(await s.files(), { 'logs.txt': ['d'], 'logs.txt.2026-11-25_08': ['a', 'b', 'c'] });
    assert.equal(s.reporter.said.filter((x) => x.kind === 'rotate-error').length, 1);
  });
});

describe('a failed write (disk full)', () => {
  test('is retried with backoff, 0.1 s doubling to 5 s, every entry kept; then every line is written once, in order', async (t) => {
    const dir = await tempDir(t, 'log-server-backoff-');
    const path = join(dir, 'logs.txt');
    const realWritev = fs.writev;
    const failures = 9;
    let calls = 0;
    mock.method(fs, 'writev', (fd: number, bufs: Buffer[], cb: (err: Error | null, written: number) => void) => {
      if (++calls <= failures)
        return setImmediate(() => cb(Object.assign(new Error('ENOSPC: no space left on device'), { code: 'ENOSPC' }), 0));
      realWritev(fd, bufs, cb);
    });
    mock.timers.enable({ apis: ['setTimeout'] });
    t.after(() => {
      mock.timers.reset();
      mock.restoreAll();
    });
    const reporter = recorder();
    const sink = new FileSink(path, { reporter, lingerMs: 0 });
    await sink.open();
    const lines = Array.from({ length: 50 }, (_, i) => `{"n":${i}}\n`);
    const delays: number[] = [];
    let written = 0;
    for (let retry = 0; retry < failures; retry++) {
      // One line more while the disk is full each time: kept with the others.
      sink.write(Buffer.from(lines.slice(written, written + 5).join('')), 5);
      written += 5;
      for (let spins = 0; reporter.said.filter((x) => x.kind === 'write-error').length <= retry; spins++) {
        assert.ok(spins < 1000, `no write-error after ${calls} writes: ${JSON.stringify(reporter.said)}`);
        await new Promise((r) => setImmediate(r));
      }
      const said = reporter.said.filter((x) => x.kind === 'write-error')[retry].line;
      const m = /^cannot write to .*logs\.txt: no space left on device; (\d+) entries kept in memory, retrying in (\d+) ms$/.exec(said);
      assert.ok(m, said);
      assert.equal(Number(m[1]), sink.pending);
      assert.ok(sink.pending >= 5, said);
      delays.push(Number(m[2]));
      assert.equal(sink.failure, 'no space left on device');
      // Not retried a moment before its time; retried at it.
      mock.timers.tick(delays[retry] - 1);
      await new Promise((r) => setImmediate(r));
      assert.equal(calls, retry + 1, `retry ${retry}: written again before ${delays[retry]} ms`);
      mock.timers.tick(1);
    }
    sink.write(Buffer.from(lines.slice(written).join('')), lines.length - written);
    for (let spins = 0; sink.pending > 0; spins++) {
      assert.ok(spins < 1000, `${sink.pending} entries still pending`);
      await new Promise((r) => setImmediate(r));
    }
    await sink.idle();
    assert.deepEqual(delays, [100, 200, 400, 800, 1600, 3200, 5000, 5000, 5000]);
    assert.ok(reporter.said.some((x) => x.kind === 'info' && /^writes to .*logs\.txt succeed again$/.test(x.line)));
    assert.equal(sink.failure, null);
    mock.timers.reset();
    await sink.close();
    assert.equal(sink.written, lines.length);
    assert.equal(await readFile(path, 'utf8'), lines.join(''));
  });
});
