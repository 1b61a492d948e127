/**
 * `log-server tail`: on files the server wrote (real python3 SocketHandler records with levels, logger names,
 * extras, a traceback and stack_info), rotated ones included; the filters; -n read backwards (checked against
 * the true last lines of a file with lines longer than a block); --follow in a real terminal (tmux) through
 * rotations and a SIGHUP reopen, colored and with NO_COLOR; --follow in a pipe through a truncation and into a
 * closed pipe; the default command left as it was.
 */
import { describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import * as fsp from 'node:fs/promises';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import {
  CLI,
  Child,
  MODES,
  assertBuilt,
  assertStoppedCleanly,
  cleanEnv,
  runCli,
  send,
  sleep,
  tempDir,
  waitForLines,
  within,
} from './helpers';
import { launch, numbered, waitFor, type Server } from './reliability-helpers';
import { eachLineBackward } from '../src/cli/tail/read-back';

assertBuilt();

const ESC = '\x1b[';
/** The environment of a tail run: no color variables unless a test sets them. */
function env(more: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return cleanEnv(more, (k) => k === 'NO_COLOR' || k === 'FORCE_COLOR');
}

async function tailOut(args: string[], more: NodeJS.ProcessEnv = {}): Promise<string> {
  const r = await runCli(['tail', ...args], { env: env(more), timeoutMs: 20_000 });
  assert.equal(r.code, 0, `tail ${args.join(' ')} exited ${r.code}:\n${r.stderr}`);
  return r.stdout;
}

/** A server with the five `levels` records in its target (then stopped). */
async function levelsFile(t: TestContext, dir: string): Promise<string> {
  const target = join(dir, 'logs.txt');
  const server = await launch(t, { target, multithreaded: false });
  await send(['levels', '127.0.0.1', String(server.port)]);
  await waitForLines(target, 5, 10_000);
  await stop(server);
  return target;
}

async function stop(server: Server): Promise<void> {
  server.signal('SIGTERM');
  assertStoppedCleanly(await server.waitExit(15_000));
}

const TIME = String.raw`\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{3}`;

describe('log-server tail: how entries read', () => {
  test('time, level, name, message, extras as key=value, tracebacks indented; no colors in a pipe', async (t) => {
    const dir = await tempDir(t);
    const target = await levelsFile(t, dir);
    const out = await tailOut([target]);
    const lines = out.split('\n');
    assert.match(lines[0], new RegExp(`^${TIME} DEBUG    app\\.db  debug one  query_ms=12$`));
    assert.match(lines[1], new RegExp(`^${TIME} INFO     app\\.web  request done  path="/x y" status=200$`));
    assert.match(lines[2], new RegExp(`^${TIME} WARNING  other  disk almost full  free=0\\.05$`));
    assert.match(lines[3], new RegExp(`^${TIME} ERROR    app\\.db  failed$`));
    assert.equal(lines[4], '    Traceback (most recent call last):');
    const errorEnd = lines.indexOf('    ZeroDivisionError: division by zero');
    assert.ok(errorEnd > 4, out);
    for (const l of lines.slice(4, errorEnd)) assert.ok(l.startsWith('    '), `not indented: ${l}`);
    assert.match(lines[errorEnd + 1], new RegExp(`^${TIME} CRITICAL app\\.web  down$`));
    assert.equal(lines[errorEnd + 2], '    Stack (most recent call last):');
    assert.ok(!out.includes(ESC), 'escape sequences in a pipe');
    // The created_human the server wrote is the time shown.
    const first = JSON.parse((await fsp.readFile(target, 'utf8')).split('\n')[0]) as { created_human: string };
    assert.ok(lines[0].startsWith(first.created_human));
  });

  test('colors by level with FORCE_COLOR; --json prints the lines as they are; a line that is not JSON is printed raw', async (t) => {
    const dir = await tempDir(t);
    const target = await levelsFile(t, dir);
    const colored = await tailOut([target], { FORCE_COLOR: '1' });
    const byLevel = (level: string) => colored.split('\n').find((l) => l.includes(level + ' ')) ?? '';
    assert.ok(byLevel('INFO').includes('\x1b[32mINFO'), JSON.stringify(byLevel('INFO')));
    assert.ok(byLevel('WARNING').includes('\x1b[33mWARNING'), JSON.stringify(byLevel('WARNING')));
    assert.ok(byLevel('ERROR').includes('\x1b[1;31mERROR'), JSON.stringify(byLevel('ERROR')));
    const raw = await fsp.readFile(target, 'utf8');
    assert.equal(await tailOut([target, '--json']), raw);
    await fsp.appendFile(target, 'not json at all\n');
    const out = await tailOut([target, '-n', '2']);
    assert.equal(out.split('\n')[out.split('\n').length - 2], 'not json at all');
  });
});

describe('log-server tail: filters', () => {
  test('--level, --name, --grep, --since, -n, and LOG_SERVER_TARGET as the default file', async (t) => {
    const dir = await tempDir(t);
    const target = await levelsFile(t, dir);
    const levels = (out: string) => [...out.matchAll(new RegExp(`^${TIME} (\\w+) `, 'gm'))].map((m) => m[1]);
    assert.deepEqual(levels(await tailOut([target, '--level', 'WARNING'])), ['WARNING', 'ERROR', 'CRITICAL']);
    assert.deepEqual(levels(await tailOut([target, '--level', 'error'])), ['ERROR', 'CRITICAL']);
    const names = (out: string) => [...out.matchAll(new RegExp(`^${TIME} \\w+ +(\\S+)  `, 'gm'))].map((m) => m[1]);
    assert.deepEqual(names(await tailOut([target, '--name', 'app.*'])), ['app.db', 'app.web', 'app.db', 'app.web']);
    assert.deepEqual(names(await tailOut([target, '--name', 'app.web', '--level', 'INFO'])), ['app.web', 'app.web']);
    assert.deepEqual(levels(await tailOut([target, '--grep', 'status=200'])), ['INFO']);
    assert.deepEqual(levels(await tailOut([target, '--grep', 'ZeroDivisionError'])), ['ERROR']);
    assert.deepEqual(levels(await tailOut([target, '-n', '2'])), ['ERROR', 'CRITICAL']);
    assert.deepEqual(levels(await tailOut([target, '-n', '1', '--level', 'WARNING', '--name', 'other'])), ['WARNING']);
    assert.equal(await tailOut([target, '-n', '0']), '');
    // The server's other variables (LOG_SERVER_PORT …) are not tail's business: no strict refusal.
    assert.deepEqual(levels(await tailOut(['--level', 'CRITICAL'], { LOG_SERVER_TARGET: target, LOG_SERVER_PORT: '9021' })), ['CRITICAL']);

    const now = Date.now() / 1000;
    const at = (ago: number, msg: string) =>
      JSON.stringify({ message: msg, levelname: 'INFO', created: now - ago, created_human: 'x', name: 'n' }) + '\n';
    const timed = join(dir, 'timed.txt');
    await fsp.writeFile(timed, at(7200, 'two hours ago') + at(1800, 'half an hour ago') + at(60, 'a minute ago') + at(1, 'just now'));
    const msgs = (out: string) =>
      out
        .split('\n')
        .filter(Boolean)
        .map((l) => l.slice(l.indexOf(' n  ') + 4));
    assert.deepEqual(msgs(await tailOut([timed, '--since', '10m'])), ['a minute ago', 'just now']);
    assert.deepEqual(msgs(await tailOut([timed, '--since', '1h'])), ['half an hour ago', 'a minute ago', 'just now']);
    assert.deepEqual(msgs(await tailOut([timed, '--since', '1h', '-n', '1'])), ['just now']);
  });

  test('bad arguments: one line, exit 2; a missing file: exit 1', async (t) => {
    const dir = await tempDir(t);
    for (const args of [['--level', 'LOUD'], ['--since', 'yesterday-ish'], ['-n', '-3'], ['--bogus']]) {
      const r = await runCli(['tail', join(dir, 'x'), ...args], { env: env() });
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
      assert.match(r.stderr, /^log-server tail: /);
    }
    for (const name of ['missing.txt', 'missing.gz']) {
      const r = await runCli(['tail', join(dir, name)], { env: env() });
      assert.equal(r.code, 1);
      assert.equal(r.stderr, `log-server tail: cannot read ${join(dir, name)}: no such file\n`);
    }
    await fsp.writeFile(join(dir, 'bad.gz'), 'not gzip\n');
    const bad = await runCli(['tail', join(dir, 'bad.gz')], { env: env() });
    assert.equal(bad.code, 1);
    assert.equal(bad.stderr, `log-server tail: cannot read ${join(dir, 'bad.gz')}: incorrect header check\n`);
  });

  test('the default command is unchanged: strict flags, --help', async () => {
    const bad = await runCli(['--bogus'], { env: env() });
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /^log-server: Unknown argument: bogus/);
    const stray = await runCli(['--port', '0', 'tail'], { env: env() });
    assert.equal(stray.code, 2, 'tail is a subcommand only in first place');
    const help = await runCli(['--help'], { env: env() });
    assert.equal(help.code, 0);
    assert.ok(help.stdout.includes('--max-size') && help.stdout.includes('log-server tail --help'), help.stdout);
    const tailHelp = await runCli(['tail', '--help'], { env: env() });
    assert.equal(tailHelp.code, 0);
    for (const flag of ['--follow', '--level', '--name', '--grep', '--since', '--json', '-n'])
      assert.ok(tailHelp.stdout.includes(flag), flag);
  });
});

describe('log-server tail: rotated files and -n from the end', () => {
  for (const mode of MODES) {
    test(`${mode.name}: files rotated by the server, plain and gzipped, read like the target`, async (t) => {
      const dir = await tempDir(t);
      const target = join(dir, 'logs.txt');
      const server = await launch(t, { target, multithreaded: mode.multithreaded, args: ['--max-size', '4K', '--max-files', '50'] });
      await numbered(server.port, 'rot', 60);
      await waitFor(
        async () => (await fsp.readdir(dir)).includes('logs.txt.3') || null,
        10_000,
        () => 'logs.txt.3',
      );
      await stop(server);
      const rotated = await fsp.readFile(join(dir, 'logs.txt.3'), 'utf8');
      const want = rotated.split('\n').filter(Boolean).slice(-2);
      await fsp.writeFile(join(dir, 'copy.gz'), gzipSync(rotated));
      for (const f of ['logs.txt.3', 'copy.gz']) {
        assert.equal(await tailOut([join(dir, f), '-n', '2', '--json']), want.join('\n') + '\n', f);
        const plain = await tailOut([join(dir, f), '-n', '2']);
        assert.match(plain, new RegExp(`^${TIME} INFO     numbered\\.rot  rot \\d+  tag=rot seq=\\d+ pad=""\\n`));
      }
    });
  }

  test('-n reads backwards: the true last lines, lines longer than a block, no final newline', async (t) => {
    const dir = await tempDir(t);
    const file = join(dir, 'big.txt');
    // Lines from 1 byte to 200 KiB (the reader's block is 64 KiB), ~20 MiB in all.
    let seed = 7;
    const rnd = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    const lines: string[] = [];
    let total = 0;
    while (total < 20 * 2 ** 20) {
      const len = rnd() < 0.05 ? Math.floor(rnd() * 200 * 1024) : Math.floor(rnd() * 300);
      const line = `${lines.length} ${'é'.repeat(Math.floor(len / 4))}${'x'.repeat(len % 7)}`;
      lines.push(line);
      total += Buffer.byteLength(line) + 1;
    }
    await fsp.writeFile(file, lines.join('\n') + '\n');
    const fh = await fsp.open(file, 'r');
    t.after(() => fh.close());
    const size = (await fh.stat()).size;
    const got: string[] = [];
    await eachLineBackward(fh, size, (l) => got.push(l) < lines.length + 1);
    assert.equal(got.length, lines.length);
    assert.ok(
      got.every((l, i) => l === lines[lines.length - 1 - i]),
      'every line, newest first',
    );
    for (const n of [1, 7, 300]) {
      const out = await tailOut([file, '-n', String(n), '--json']);
      assert.equal(out, lines.slice(-n).join('\n') + '\n', `-n ${n}`);
    }
    await fsp.appendFile(file, 'partial');
    assert.equal(await tailOut([file, '-n', '2', '--json']), `${lines[lines.length - 1]}\npartial\n`);
  });
});

/** tmux on its own socket (removed, with its server, after the test). */
function tmux(t: TestContext): (args: string[]) => string {
  const socket = `log-server-test-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
  const run = (args: string[]) => execFileSync('tmux', ['-L', socket, ...args], { encoding: 'utf8', timeout: 10_000 });
  t.after(() => {
    try {
      run(['kill-server']);
    } catch {
      // already gone
    }
  });
  return run;
}

describe('log-server tail --follow in a terminal (tmux)', () => {
  for (const color of [true, false]) {
    test(`${color ? 'colored' : 'NO_COLOR'}: new entries appear, through rotations by the server and a SIGHUP reopen`, async (t) => {
      const dir = await tempDir(t);
      const target = join(dir, 'logs.txt');
      const server = await launch(t, { target, multithreaded: false, args: ['--max-size', '6K', '--max-files', '50'] });
      await send(['levels', '127.0.0.1', String(server.port), ' #0']);
      await waitForLines(target, 5, 10_000);
      const tm = tmux(t);
      const envArgs = ['env', '-u', 'FORCE_COLOR', ...(color ? ['-u', 'NO_COLOR'] : ['NO_COLOR=1'])];
      tm([
        'new-session',
        '-d',
        '-x',
        '220',
        '-y',
        '50',
        [...envArgs, process.execPath, CLI, 'tail', '-f', '-n', '3', target].map(shellQuote).join(' '),
      ]);
      const screen = () => tm(['capture-pane', '-p', '-e', '-J', '-S', '-', '-E', '-']);
      await waitFor(
        () => screen().includes('down #0') || null,
        10_000,
        () => `the first entries on screen:\n${screen()}`,
      );
      assert.ok(!screen().includes('debug one #0'), '-n 3 shows only the last 3 entries');
      // Rotations (6K: a few records each), then logrotate's move and SIGHUP, then more rotations.
      for (let i = 1; i <= 6; i++) {
        await send(['levels', '127.0.0.1', String(server.port), ` #${i}`]);
        if (i === 3) {
          // As logrotate would, long after the file was created (a file rotated away before the reader has
          // seen it at the path is read only by naming it: see the README).
          await waitFor(
            () => screen().includes('down #3') || null,
            10_000,
            () => `batch 3 on screen:\n${screen()}`,
          );
          await fsp.rename(target, join(dir, 'moved.txt'));
          server.signal('SIGHUP');
        }
      }
      await waitFor(
        () => screen().includes('down #6') || null,
        10_000,
        () => `the last entry on screen:\n${screen()}`,
      );
      await sleep(300);
      const text = screen();
      const plain = text.replace(/\x1b\[[0-9;]*m/g, '');
      for (let i = 1; i <= 6; i++) {
        for (const msg of [`debug one #${i}`, `request done #${i}`, `disk almost full #${i}`, `failed #${i}`, `down #${i}`]) {
          const n = plain.split(msg).length - 1;
          assert.equal(n, 1, `"${msg}" appears ${n} times:\n${plain}`);
        }
      }
      assert.ok(plain.includes('    ZeroDivisionError: division by zero'));
      assert.ok((await fsp.readdir(dir)).filter((f) => /^logs\.txt\.\d+$/.test(f)).length >= 2, 'the server rotated');
      if (color)
        assert.ok(text.includes(ESC) && /\x1b\[[0-9;]*32m/.test(text), `no colors on the terminal:\n${JSON.stringify(text.slice(0, 500))}`);
      else assert.ok(!text.includes(ESC), `colors despite NO_COLOR:\n${JSON.stringify(text.slice(0, 500))}`);
      await stop(server);
    });
  }
});

function shellQuote(s: string): string {
  return /^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

describe('log-server tail --follow in a pipe', () => {
  const entry = (msg: string) =>
    JSON.stringify({ created: 1700000000, levelname: 'INFO', name: 'app', message: msg, msg, pad: 'x'.repeat(200) });

  /** `tail -f --json FILE` with its stdout read by this process. */
  function follow(t: TestContext, file: string): Child {
    const c = new Child(spawn(process.execPath, [CLI, 'tail', '-f', '--json', file], { env: env(), stdio: ['ignore', 'pipe', 'pipe'] }));
    t.after(() => c.kill('SIGKILL'));
    return c;
  }
  const printed = (c: Child) =>
    c.stdout
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => (JSON.parse(l) as { msg: string }).msg);
  const until = (c: Child, want: string[], what: string) =>
    waitFor(
      () => JSON.stringify(printed(c)) === JSON.stringify(want),
      15_000,
      () => `${what}: printed ${JSON.stringify(printed(c))}, want ${JSON.stringify(want)}; stderr:\n${c.stderr}`,
    );

  test('a file truncated in place (copytruncate) is read again from its start', async (t) => {
    const file = join(await tempDir(t), 'logs.txt');
    await fsp.writeFile(file, ['one', 'two', 'three'].map((m) => entry(m) + '\n').join(''));
    const c = follow(t, file);
    await until(c, ['one', 'two', 'three'], 'the last entries');
    // Shorter than what was read: a truncation, whenever the follower looks.
    await fsp.writeFile(file, entry('four') + '\n');
    await until(c, ['one', 'two', 'three', 'four'], 'the entry after the truncation');
    await fsp.appendFile(file, entry('five') + '\n');
    await until(c, ['one', 'two', 'three', 'four', 'five'], 'the entry appended after it');
    assert.equal(c.exited, false, c.stderr);
    c.kill('SIGINT');
    await within(c.exit, 10_000, 'tail to stop on SIGINT');
  });

  test('its reader gone (| head): it ends quietly, exit 0, when it next writes', async (t) => {
    const file = join(await tempDir(t), 'logs.txt');
    await fsp.writeFile(file, entry('one') + '\n');
    const c = follow(t, file);
    await until(c, ['one'], 'the first entry');
    c.proc.stdout!.destroy();
    await fsp.appendFile(file, Array.from({ length: 50 }, (_, i) => entry(`more ${i}`) + '\n').join(''));
    const exit = await within(c.exit, 15_000, `tail to end once its reader is gone; stderr:\n${c.stderr}`);
    assert.equal(exit.code, 0, `exit ${exit.code} (${exit.signal}); stderr:\n${exit.stderr}`);
    assert.equal(exit.stderr, '');
  });
});
