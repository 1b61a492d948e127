/**
 * Rotation built into the writer (--max-size, --rotate, --max-files, --compress), in both modes, with real
 * python3 SocketHandler clients: every record lands exactly once across the files, no line is split, each file
 * stays within the size, the oldest files go, gzip is valid, the lock stays on the base path, SIGHUP still
 * reopens, a crash mid-compression loses nothing, and time-based rotation (a short interval, and an old file
 * carried into a new day).
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import * as fsp from 'node:fs/promises';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { gunzipSync, gzipSync } from 'node:zlib';
import { MODES, assertBuilt, assertStoppedCleanly, cleanEnv, runCli, send, sleep, startCli, tempDir, waitForLines } from './helpers';
import { assertTag, background, launch, lineCount, numbered, waitFor, type Rec, type Server } from './reliability-helpers';
import { startServer } from '../src/server/start';
import { silentReporter } from '../src/core/report';

assertBuilt();

/** The rotated files of `target` in `dir`, oldest first: numbered (.N … .1) or dated (by name). */
async function rotatedFiles(dir: string, base: string): Promise<string[]> {
  const names = (await fsp.readdir(dir)).filter((n) => n.startsWith(base + '.') && !n.endsWith('.lock'));
  const numbered = names.filter((n) => /^\.\d+(\.gz)?$/.test(n.slice(base.length)));
  if (numbered.length > 0) return numbered.sort((a, b) => parseInt(b.slice(base.length + 1)) - parseInt(a.slice(base.length + 1)));
  // Dated: by date, then the file without a number before .1, .2 … of the same period.
  const key = (n: string) => {
    const m = /^(.*?)(?:\.(\d+))?(?:\.gz)?$/.exec(n.slice(base.length + 1))!;
    return [m[1], Number(m[2] ?? 0)] as const;
  };
  return names.sort((a, b) => {
    const [sa, na] = key(a);
    const [sb, nb] = key(b);
    return sa < sb ? -1 : sa > sb ? 1 : na - nb;
  });
}

/** Lines of a file, gunzipped if it ends in .gz (which must then be valid gzip); each must be a whole JSON object. */
async function fileRecords(file: string): Promise<{ records: Rec[]; bytes: number; lines: string[] }> {
  let data = await fsp.readFile(file);
  if (file.endsWith('.gz')) data = gunzipSync(data);
  const text = data.toString('utf8');
  assert.ok(text === '' || text.endsWith('\n'), `${file} ends with a partial line`);
  const lines = text === '' ? [] : text.slice(0, -1).split('\n');
  const records = lines.map((l, i) => {
    try {
      return JSON.parse(l) as Rec;
    } catch {
      return assert.fail(`${file}:${i + 1} is not whole JSON: ${l.slice(0, 200)}`);
    }
  });
  return { records, bytes: data.length, lines };
}

/**
 * Watches, while `during` runs, that the lock directory is at `<target>.lock` and nowhere else, and that the
 * target was rotated between the checks (each rotation puts a new file, a new inode, at the path): a check that
 * saw no rotation would prove nothing.
 */
async function lockStaysAtBase(dir: string, base: string, during: Promise<unknown>): Promise<void> {
  let done = false;
  void during.finally(() => (done = true)).catch(() => {});
  const inodes = new Set<number>();
  while (!done) {
    const names = await fsp.readdir(dir);
    const locks = names.filter((n) => n.endsWith('.lock'));
    assert.deepEqual(locks, [`${base}.lock`], `lock directories in ${dir}: ${names.join(', ')}`);
    const st = await fsp.stat(join(dir, base)).catch(() => null);
    if (st) inodes.add(st.ino);
    await sleep(10);
  }
  await during;
  assert.ok(inodes.size >= 3, `the lock was checked across ${inodes.size - 1} rotations only`);
}

/** SIGTERM, then exit 0 with `written` said and no fault. No wait before it: a stop waits for the background
 * rotation work (renames, gzip, removing the oldest), and the tests look at the files right after the exit. */
async function stopClean(server: Server, written: number): Promise<void> {
  server.signal('SIGTERM');
  const exit = await server.waitExit(20_000, 'exit after SIGTERM');
  assertStoppedCleanly(exit, { written });
  assert.ok(!/rotate-error|cannot rotate|rotating .*:/.test(exit.stderr), `rotation errors:\n${exit.stderr}`);
}

for (const mode of MODES) {
  describe(`${mode.name}: rotation by size`, () => {
    test('--max-size 8K: every record exactly once over all files, in order, no file over 8K, lock at the base path', async (t) => {
      const dir = await tempDir(t);
      const target = join(dir, 'logs.txt');
      const SIZE = 8 * 1024;
      const N = 1500;
      const server = await launch(t, { target, multithreaded: mode.multithreaded, args: ['--max-size', '8K', '--max-files', '1000'] });
      // A record every 2 ms from each client: the rotations (an 8K file every ~60 records) spread over seconds, so
      // the lock is sampled across many of them (as fast as possible, a loaded machine saw one).
      const sending = Promise.all([numbered(server.port, 'a', N, 20, 2), numbered(server.port, 'b', N, 0, 2)]);
      await lockStaysAtBase(dir, 'logs.txt', sending);
      await waitFor(
        async () => {
          let n = 0;
          for (const f of [...(await rotatedFiles(dir, 'logs.txt')), 'logs.txt']) n += await lineCount(join(dir, f));
          return n >= 2 * N || null;
        },
        15_000,
        () => `${2 * N} lines over all files`,
      );
      await stopClean(server, 2 * N);
      const files = [...(await rotatedFiles(dir, 'logs.txt')), 'logs.txt'];
      assert.ok(files.length > 20, `only ${files.length} files: ${files.join(', ')}`);
      const all: Rec[] = [];
      for (const f of files) {
        const { records, bytes } = await fileRecords(join(dir, f));
        assert.ok(bytes <= SIZE, `${f} has ${bytes} bytes, over ${SIZE}`);
        if (f !== 'logs.txt') assert.ok(records.length > 0, `${f} is empty`);
        all.push(...records);
      }
      assert.equal(all.length, 2 * N);
      assertTag(all, 'a', N, 'the files oldest first');
      assertTag(all, 'b', N, 'the files oldest first');
    });

    test('--max-files 3 --compress: three valid .gz files kept, the newest records, the lock at the base path', async (t) => {
      const dir = await tempDir(t);
      const target = join(dir, 'logs.txt');
      const N = 600;
      const server = await launch(t, {
        target,
        multithreaded: mode.multithreaded,
        args: ['--max-size', '4K', '--max-files', '3', '--compress'],
      });
      // Paced, so that the lock is checked between rotations, not only before and after them.
      await lockStaysAtBase(dir, 'logs.txt', numbered(server.port, 'c', N, 0, 2));
      await waitFor(
        async () => (await fsp.readdir(dir)).some((n) => n.endsWith('.3.gz')) || null,
        10_000,
        () => 'logs.txt.3.gz',
      );
      await stopClean(server, N);
      const names = (await fsp.readdir(dir)).sort();
      assert.deepEqual(names, ['logs.txt', 'logs.txt.1.gz', 'logs.txt.2.gz', 'logs.txt.3.gz'], `files: ${names.join(', ')}`);
      const all: Rec[] = [];
      for (const f of ['logs.txt.3.gz', 'logs.txt.2.gz', 'logs.txt.1.gz', 'logs.txt']) {
        const { records, bytes } = await fileRecords(join(dir, f)); // gunzipSync throws on anything but valid gzip
        assert.ok(bytes <= 4096, `${f}: ${bytes} bytes uncompressed`);
        all.push(...records);
      }
      // The newest records, contiguous, in order, ending with the last one sent.
      const seqs = all.map((r) => r.seq as number);
      assert.equal(seqs[seqs.length - 1], N - 1);
      for (let i = 1; i < seqs.length; i++)
        assert.equal(seqs[i], seqs[i - 1] + 1, `gap or disorder at ${i}: ${seqs[i - 1]} then ${seqs[i]}`);
    });

    test('a line longer than --max-size gets a file of its own; the others stay within the size', async (t) => {
      const dir = await tempDir(t);
      const target = join(dir, 'logs.txt');
      const server = await launch(t, { target, multithreaded: mode.multithreaded, args: ['--max-size', '2K', '--max-files', '100'] });
      await numbered(server.port, 'pre', 30);
      await send(['big', '127.0.0.1', String(server.port), join(dir, 'expected.txt'), '5000']);
      await numbered(server.port, 'post', 30);
      await waitFor(
        async () => {
          let n = 0;
          for (const f of [...(await rotatedFiles(dir, 'logs.txt')), 'logs.txt']) n += await lineCount(join(dir, f));
          return n >= 63 || null;
        },
        10_000,
        () => '63 lines',
      );
      await stopClean(server, 63);
      const expected = (await fsp.readFile(join(dir, 'expected.txt'), 'utf8')).split('\n');
      const bigLine = expected[1];
      let bigFiles = 0;
      const all: Rec[] = [];
      for (const f of [...(await rotatedFiles(dir, 'logs.txt')), 'logs.txt']) {
        const { records, bytes, lines } = await fileRecords(join(dir, f));
        all.push(...records);
        if (lines.includes(bigLine)) {
          bigFiles++;
          assert.deepEqual(lines, [bigLine], `${f} holds the long line and more`);
        } else assert.ok(bytes <= 2048, `${f}: ${bytes} bytes`);
      }
      assert.equal(bigFiles, 1, 'files holding the long line');
      assertTag(all, 'pre', 30);
      assertTag(all, 'post', 30);
    });

    test('SIGHUP reopen (logrotate moved the file) still works with --max-size on', async (t) => {
      const dir = await tempDir(t);
      const target = join(dir, 'logs.txt');
      const server = await launch(t, { target, multithreaded: mode.multithreaded, args: ['--max-size', '64K', '--max-files', '1000'] });
      await numbered(server.port, 'one', 50);
      await waitForLines(target, 50, 10_000);
      await fsp.rename(target, join(dir, 'moved.txt'));
      server.signal('SIGHUP');
      await numbered(server.port, 'two', 400, 200);
      await waitFor(
        async () => (await rotatedFiles(dir, 'logs.txt')).length >= 2 || null,
        10_000,
        () => 'rotations after the reopen',
      );
      await stopClean(server, 450);
      const moved = await fileRecords(join(dir, 'moved.txt'));
      assertTag(moved.records, 'one', 50, 'moved.txt');
      assert.equal(moved.records.length, 50);
      const after: Rec[] = [];
      for (const f of [...(await rotatedFiles(dir, 'logs.txt')), 'logs.txt']) {
        const { records, bytes } = await fileRecords(join(dir, f));
        assert.ok(bytes <= 64 * 1024, `${f}: ${bytes} bytes`);
        after.push(...records);
      }
      assert.equal(after.length, 400);
      assertTag(after, 'two', 400, 'the new target and its rotations');
    });
  });
}

describe('rotation: recovery and time', () => {
  test('a stop waits for the background work: once close() resolves, a big rotated file is gzipped whole, nothing pending', async (t) => {
    const dir = await tempDir(t);
    const target = join(dir, 'logs.txt');
    // 48 MiB of lines that compress poorly: its gzip takes a while, longer than the rest of a stop.
    const big = Buffer.from(
      Array.from(
        { length: 48 * 1024 },
        (_, i) => JSON.stringify({ message: `old ${i}`, pad: randomBytes(700).toString('base64') }).slice(0, 1023) + '\n',
      ).join(''),
    );
    await fsp.writeFile(target, big);
    // In process: the library's close() is what the CLI waits for before its stop line and the lock's release.
    const server = await startServer({
      port: 0,
      target,
      udp: false,
      maxSize: String(big.length),
      compress: true,
      reporter: silentReporter,
    });
    t.after(() => server.close());
    await send(['plain', '127.0.0.1', String(server.address.port), '1']);
    // The line that did not fit went to a new file: the rotation happened, its gzip is under way.
    await waitForLines(target, 1, 10_000);
    const summary = await server.close();
    assert.equal(summary.written, 1);
    assert.deepEqual((await fsp.readdir(dir)).sort(), ['logs.txt', 'logs.txt.1.gz']);
    assert.ok(gunzipSync(await fsp.readFile(join(dir, 'logs.txt.1.gz'))).equals(big), 'logs.txt.1.gz holds the old file');
  });

  test('a crash mid-compression: the next start finishes it from the uncompressed file, nothing lost', async (t) => {
    const dir = await tempDir(t);
    const target = join(dir, 'logs.txt');
    // What a kill -9 during the gzip of a rotated file leaves: the moved file, a partial .gz.tmp, older .1.gz.
    const line = (seq: number) => JSON.stringify({ message: `old ${seq}`, tag: 'old', seq }) + '\n';
    const pending = join(dir, 'logs.txt.pending-1795600000000-000000');
    await fsp.writeFile(pending, Array.from({ length: 20 }, (_, i) => line(i)).join(''));
    await fsp.writeFile(pending + '.gz.tmp', Buffer.from([0x1f, 0x8b, 0x08, 0x00]));
    // … and a newer one whose gzip had finished but not its move into the chain.
    const newer = Array.from({ length: 5 }, (_, i) => JSON.stringify({ message: `newer ${i}`, tag: 'newer', seq: i }) + '\n').join('');
    await fsp.writeFile(join(dir, 'logs.txt.pending-1795600000001-000001.gz'), gzipSync(newer));
    await fsp.writeFile(join(dir, 'logs.txt.1'), 'kept 1\n');
    await fsp.writeFile(target, '');
    const server = await launch(t, { target, multithreaded: false, args: ['--max-size', '1M', '--compress'] });
    await waitFor(
      () => existsSync(join(dir, 'logs.txt.3.gz')) || null,
      10_000,
      () => 'recovered files',
    );
    await stopClean(server, 0);
    assert.deepEqual((await fsp.readdir(dir)).sort(), ['logs.txt', 'logs.txt.1.gz', 'logs.txt.2.gz', 'logs.txt.3.gz']);
    assert.equal(gunzipSync(await fsp.readFile(join(dir, 'logs.txt.3.gz'))).toString(), 'kept 1\n');
    assertTag((await fileRecords(join(dir, 'logs.txt.2.gz'))).records, 'old', 20, 'logs.txt.2.gz');
    assertTag((await fileRecords(join(dir, 'logs.txt.1.gz'))).records, 'newer', 5, 'logs.txt.1.gz');
  });

  test('kill -9 while rotating and gzipping under load: after a restart every file is whole, valid gzip, and the records a gapless prefix', async (t) => {
    const dir = await tempDir(t);
    const target = join(dir, 'logs.txt');
    const args = ['--max-size', '256K', '--max-files', '1000', '--compress'];
    const first = await launch(t, { target, multithreaded: false, args });
    const flow = background(t, ['numbered', '127.0.0.1', String(first.port), 'crash', '40000', '500']);
    await waitFor(
      async () => (await fsp.readdir(dir)).filter((n) => n.endsWith('.gz')).length >= 5 || null,
      20_000,
      () => 'five .gz files',
    );
    await first.kill();
    await flow.exit;
    const second = await launch(t, { target, multithreaded: false, args });
    await waitFor(
      async () => !(await fsp.readdir(dir)).some((n) => n.includes('.pending-') || n.endsWith('.tmp')) || null,
      10_000,
      () => 'recovery',
    );
    await stopClean(second, 0);
    const files = (await rotatedFiles(dir, 'logs.txt')).filter((n) => !n.includes('.torn-'));
    for (const f of files) assert.match(f, /^logs\.txt\.\d+\.gz$/, `left after recovery: ${files.join(', ')}`);
    const all: Rec[] = [];
    for (const f of [...files, 'logs.txt']) all.push(...(await fileRecords(join(dir, f))).records);
    const seqs = all.map((r) => r.seq as number);
    assert.ok(seqs.length > 1000, `${seqs.length} records`);
    seqs.forEach((s, i) => assert.equal(s, i, `record ${i} has seq ${s}: a gap, a duplicate or disorder`));
  });

  for (const mode of MODES) {
    test(`${mode.name}: --rotate with a short interval: dated files, every record once, in order`, async (t) => {
      const dir = await tempDir(t);
      const target = join(dir, 'logs.txt');
      // Fixed intervals (here 300 ms) name files by the second, like TimedRotatingFileHandler's 'S': two
      // periods in one second get .1.
      const server = await launch(t, {
        target,
        multithreaded: mode.multithreaded,
        args: ['--rotate', '300ms', '--max-files', '1000', '--compress'],
      });
      const flow = background(t, ['numbered', '127.0.0.1', String(server.port), 'timed', '300', '0', '5']);
      const e = await flow.exit;
      assert.equal(e.code, 0, e.stderr);
      await waitFor(
        async () => {
          let n = 0;
          for (const f of [...(await rotatedFiles(dir, 'logs.txt')), 'logs.txt']) n += (await fileRecords(join(dir, f))).records.length;
          return n >= 300 || null;
        },
        10_000,
        () => '300 records',
      );
      await stopClean(server, 300);
      const rotated = await rotatedFiles(dir, 'logs.txt');
      assert.ok(rotated.length >= 3, `rotated: ${rotated.join(', ')}`);
      for (const f of rotated) assert.match(f, /^logs\.txt\.\d{4}-\d{2}-\d{2}_\d{2}-\d{2}-\d{2}(\.\d+)?\.gz$/);
      const all: Rec[] = [];
      for (const f of [...rotated, 'logs.txt']) all.push(...(await fileRecords(join(dir, f))).records);
      assertTag(all, 'timed', 300, 'the dated files by name, then the target');
    });
  }

  test('--rotate daily with --max-size: several files of one day get .1, .2 … in the order written, each within the size', async (t) => {
    const dir = await tempDir(t);
    const target = join(dir, 'logs.txt');
    const server = await launch(t, { target, multithreaded: false, args: ['--rotate', 'daily', '--max-size', '4K', '--max-files', '100'] });
    await numbered(server.port, 'day', 100);
    await waitFor(
      async () => {
        let n = 0;
        for (const f of [...(await rotatedFiles(dir, 'logs.txt')), 'logs.txt']) n += await lineCount(join(dir, f));
        return n >= 100 || null;
      },
      10_000,
      () => '100 lines',
    );
    await stopClean(server, 100);
    const rotated = await rotatedFiles(dir, 'logs.txt');
    assert.ok(rotated.length >= 5, rotated.join(', '));
    const day = /^logs\.txt\.(\d{4}-\d{2}-\d{2})$/.exec(rotated[0])?.[1];
    assert.ok(day !== undefined, `first rotated file: ${rotated[0]}`);
    rotated.forEach((f, i) => assert.equal(f, i === 0 ? `logs.txt.${day}` : `logs.txt.${day}.${i}`));
    const all: Rec[] = [];
    for (const f of [...rotated, 'logs.txt']) {
      const { records, bytes } = await fileRecords(join(dir, f));
      assert.ok(bytes <= 4096, `${f}: ${bytes} bytes`);
      all.push(...records);
    }
    assertTag(all, 'day', 100, 'the dated files, then the target');
  });

  test('--rotate daily: a target last written on an earlier day is moved to logs.txt.<that day> at the first write', async (t) => {
    const dir = await tempDir(t);
    const target = join(dir, 'logs.txt');
    await fsp.writeFile(target, '{"message":"yesterday"}\n');
    const then = new Date(Date.UTC(2026, 0, 31, 23, 30));
    await fsp.utimes(target, then, then);
    await fsp.writeFile(join(dir, 'logs.txt.2026-01-29'), '{"message":"older"}\n');
    await fsp.writeFile(join(dir, 'logs.txt.2026-01-30'), '{"message":"old"}\n');
    const server = await launch(t, { target, multithreaded: false, args: ['--rotate', 'daily', '--max-files', '2'] });
    await numbered(server.port, 'today', 10);
    await waitForLines(target, 10, 10_000);
    await stopClean(server, 10);
    assert.deepEqual((await fsp.readdir(dir)).sort(), ['logs.txt', 'logs.txt.2026-01-30', 'logs.txt.2026-01-31']);
    assert.equal(await fsp.readFile(join(dir, 'logs.txt.2026-01-31'), 'utf8'), '{"message":"yesterday"}\n');
    assertTag((await fileRecords(target)).records, 'today', 10);
  });
});

describe('rotation options', () => {
  test('bad values: one clear line and a non-zero exit; LOG_SERVER_MAX_SIZE works like the flag', async (t) => {
    const dir = await tempDir(t);
    const target = join(dir, 'logs.txt');
    const cases: [string[], RegExp][] = [
      [['--max-size', '10X'], /max-size must be a size of at least 1K, such as 512K, 100M or 1G, not 10X/],
      [['--max-size', '100'], /max-size must be a size of at least 1K/],
      [['--rotate', 'weekly'], /rotate must be daily, hourly or an interval such as 30s or 5m, not weekly/],
      [['--max-size', '1M', '--max-files', '0'], /max-files must be an integer from 1 to 100000, not 0/],
      [['--compress'], /compress needs max-size or rotate/],
      [['--no-rotate'], /rotate must be daily, hourly or an interval such as 30s or 5m, not false/],
      [['--no-target', '--forward', 'nats://127.0.0.1:4222', '--max-size', '1M'], /max-size and rotate need a target file/],
    ];
    for (const [args, want] of cases) {
      const r = await runCli(['--host', '127.0.0.1', '--port', '0', '--target', target, ...args], { env: cleanEnv(), timeoutMs: 15_000 });
      assert.notEqual(r.code, 0, `${args.join(' ')}: exit 0`);
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
      assert.match(r.stderr, want);
    }
    const server = await startCli(t, { target, env: { ...cleanEnv(), LOG_SERVER_MAX_SIZE: '2K' } });
    await numbered(server.port, 'env', 20);
    await waitFor(
      async () => (await fsp.readdir(dir)).includes('logs.txt.2') || null,
      10_000,
      () => 'rotation by LOG_SERVER_MAX_SIZE',
    );
    const exit = await server.stop('SIGTERM');
    assert.equal(exit.code, 0, exit.stderr);
  });
});
