/**
 * log-server under a real pm2 (the dev dependency), started from the real ecosystem.config.js:
 * - it turns "online" only once it listens (wait_ready + process.send('ready'), multithreaded);
 * - `pm2 reload` and `pm2 stop` while records flow: pm2 sends SIGINT to every process of the tree at once, the
 *   workers let the primary drain, and every record the clients sent on a live connection is in the file once;
 * - `pm2 logs` shows the server's own lines;
 * - in pm2 cluster mode it refuses to start, saying to use fork mode (single-process and --multithreaded).
 *
 * Each test has its own PM2_HOME in a temp dir; the apps are deleted and the pm2 daemon is ended by its pid
 * afterwards. The port and target come from LOG_SERVER_* variables in pm2's environment, which the ecosystem
 * file passes on.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import * as fsp from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test, type TestContext } from 'node:test';
import {
  PYTHON_DIR,
  ROOT,
  assertBuilt,
  canConnect,
  cleanEnv,
  childPidsOf,
  freePort,
  readLines,
  run,
  sleep,
  startTimeOf,
  tempDir,
  within,
} from './helpers';
import { background, waitFor } from './reliability-helpers';

const PM2 = join(ROOT, 'node_modules', 'pm2', 'bin', 'pm2');
const ECOSYSTEM = join(ROOT, 'ecosystem.config.js');
const CLIENTS = join(PYTHON_DIR, 'operate_clients.py');

interface AppInfo {
  name: string;
  pid: number;
  status: string;
  execMode: string;
  restarts: number;
}

interface Pm2 {
  home: string;
  run(args: string[], timeoutMs?: number): ReturnType<typeof run>;
  apps(): Promise<AppInfo[]>;
  app(name: string): Promise<AppInfo | undefined>;
}

/** A pm2 with its own PM2_HOME; `env` is what `pm2 start` sees (and passes on to the app). */
async function pm2Home(t: TestContext, env: Record<string, string>): Promise<Pm2> {
  assertBuilt();
  const home = await tempDir(t, 'log-server-pm2-');
  const clean = cleanEnv({}, (k) => k.startsWith('PM2_'));
  const fullEnv = { ...clean, PM2_HOME: home, ...env };
  const cwd = await tempDir(t, 'log-server-pm2-cwd-');
  const pm2: Pm2 = {
    home,
    run: (args, timeoutMs = 60_000) => run(process.execPath, [PM2, ...args], { env: fullEnv, cwd, timeoutMs }),
    async apps() {
      const r = await pm2.run(['jlist'], 20_000);
      const json = r.stdout.slice(r.stdout.indexOf('['));
      const list = JSON.parse(json) as {
        name: string;
        pid: number;
        pm2_env: { status: string; exec_mode: string; restart_time: number };
      }[];
      return list.map((a) => ({
        name: a.name,
        pid: a.pid,
        status: a.pm2_env.status,
        execMode: a.pm2_env.exec_mode,
        restarts: a.pm2_env.restart_time,
      }));
    },
    async app(name) {
      return (await pm2.apps()).find((a) => a.name === name);
    },
  };
  // Every pid seen: the daemon, the apps and their workers, each with its start time (pids are reused).
  const seen = new Map<number, string>();
  const remember = (pid: number) => {
    const started = startTimeOf(pid);
    if (started !== null && !seen.has(pid)) seen.set(pid, started);
    for (const child of childPidsOf(pid)) remember(child);
  };
  const watcher = setInterval(() => {
    const daemon = daemonPid(home);
    if (daemon !== null) remember(daemon);
  }, 200);
  t.after(async () => {
    clearInterval(watcher);
    const daemon = daemonPid(home);
    if (daemon !== null) remember(daemon);
    if (daemon !== null && startTimeOf(daemon) !== null) await pm2.run(['delete', 'all'], 30_000);
    const stillDaemon = daemonPid(home);
    if (stillDaemon !== null && startTimeOf(stillDaemon) === seen.get(stillDaemon)) process.kill(stillDaemon, 'SIGTERM');
    const deadline = Date.now() + 5000;
    const alive = () => [...seen].filter(([pid, started]) => startTimeOf(pid) === started);
    while (alive().length > 0 && Date.now() < deadline) await sleep(50);
    for (const [pid] of alive()) process.kill(pid, 'SIGKILL');
  });
  return pm2;
}

function daemonPid(home: string): number | null {
  const file = join(home, 'pm2.pid');
  if (!existsSync(file)) return null;
  const pid = Number(readFileSync(file, 'utf8').trim());
  return Number.isInteger(pid) && pid > 0 ? pid : null;
}

interface BurstResult {
  sent: number[];
  dropped: number;
  connections: number;
}

describe('pm2 (fork mode, from ecosystem.config.js)', () => {
  test('online only once listening; reload and stop while records flow lose no record that reached the server; pm2 logs shows the server', async (t) => {
    const dir = await tempDir(t);
    const target = join(dir, 'logs.jsonl');
    const port = await freePort();
    const pm2 = await pm2Home(t, {
      LOG_SERVER_PORT: String(port),
      LOG_SERVER_TARGET: target,
      LOG_SERVER_WORKERS: '6',
      LOG_SERVER_DRAIN_TIMEOUT: '3000',
    });

    const started = await pm2.run(['start', ECOSYSTEM]);
    assert.equal(started.code, 0, `pm2 start:\n${started.stdout}\n${started.stderr}`);
    const first = await pm2.app('log-server');
    assert.ok(first, 'no app named log-server');
    assert.equal(first.execMode, 'fork_mode');
    assert.equal(first.status, 'online');
    // wait_ready: pm2 start returned once the app said "ready", which it does only once it listens.
    assert.ok(await canConnect(port), `online, but nothing listens on ${port}`);
    assert.equal(
      childPidsOf(first.pid).length,
      6,
      'the ecosystem file starts --multithreaded (6 workers here: a start slow enough that an early "ready" would show)',
    );

    // Three clients in bursts of 0.3 s every second, a third of a second apart: whenever pm2 acts, one is sending.
    const stopFile = join(dir, 'stop');
    const clients = ['a', 'b', 'c'].map((tag, i) =>
      background(t, ['bursts', '127.0.0.1', String(port), tag, stopFile, '300', '700', String(i * 333)], CLIENTS),
    );
    const count = async () => (await readLines(target)).length;
    await waitFor(
      async () => (await count()) >= 300,
      20_000,
      () => '300 lines before the reload',
    );

    const reload = await pm2.run(['reload', 'log-server']);
    assert.equal(reload.code, 0, `pm2 reload:\n${reload.stdout}\n${reload.stderr}`);
    const second = await pm2.app('log-server');
    assert.ok(second && second.status === 'online' && second.pid !== first.pid, `after reload: ${JSON.stringify(second)}`);
    const afterReload = await count();
    await waitFor(
      async () => (await count()) >= afterReload + 300,
      20_000,
      () => '300 more lines after the reload (clients reconnected)',
    );

    const stop = await pm2.run(['stop', 'log-server']);
    assert.equal(stop.code, 0, `pm2 stop:\n${stop.stdout}\n${stop.stderr}`);
    assert.equal((await pm2.app('log-server'))?.status, 'stopped');
    assert.ok(!(await canConnect(port)), 'still listening after pm2 stop');

    await fsp.writeFile(stopFile, '');
    const results: Record<string, BurstResult> = {};
    for (const [i, c] of clients.entries()) {
      const e = await within(c.exit, 20_000, 'a client to finish');
      assert.equal(e.code, 0, `client: ${e.stderr}`);
      results['abc'[i]] = JSON.parse(e.stdout.trim().split('\n').pop() ?? '{}') as BurstResult;
    }

    const lines = await readLines(target);
    const bySeq = new Map<string, number[]>();
    for (const line of lines) {
      const r = JSON.parse(line) as { tag: string; seq: number };
      (bySeq.get(r.tag) ?? bySeq.set(r.tag, []).get(r.tag)!).push(r.seq);
    }
    for (const [tag, r] of Object.entries(results)) {
      const inFile = bySeq.get(tag) ?? [];
      t.diagnostic(
        `client ${tag}: ${r.sent.length} sent on live connections, ${r.dropped} dropped while no server listened, ${r.connections} connections; ${inFile.length} in the file`,
      );
      assert.equal(new Set(inFile).size, inFile.length, `client ${tag}: a record written twice`);
      const missing = r.sent.filter((s) => !inFile.includes(s));
      assert.deepEqual(missing.slice(0, 20), [], `client ${tag}: ${missing.length} records sent on a live connection are not in the file`);
      const unsent = inFile.filter((s) => !r.sent.includes(s));
      assert.deepEqual(unsent, [], `client ${tag}: records in the file the client did not count as sent`);
      assert.deepEqual(
        inFile,
        [...inFile].sort((x, y) => x - y),
        `client ${tag}: records out of order`,
      );
    }
    assert.ok(
      Object.values(results).some((r) => r.connections >= 2),
      'no client had to reconnect: the reload did not restart the server',
    );

    // pm2 logs: the server's own lines, from both runs.
    const logs = await pm2.run(['logs', 'log-server', '--nostream', '--lines', '200', '--raw'], 20_000);
    const text = logs.stdout + logs.stderr; // pm2 prints the error log's lines on its stderr
    const listening =
      text.match(
        new RegExp(
          `log-server: listening on 127\\.0\\.0\\.1:${port}, writing ${target.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}, multithreaded with 6 workers`,
          'g',
        ),
      ) ?? [];
    assert.equal(listening.length, 2, `want two "listening" lines (start, reload) in pm2 logs:\n${text}`);
    const stopping = [...text.matchAll(/log-server: stopping: (\d+) connections open/g)].map((m) => Number(m[1]));
    assert.equal(stopping.length, 2, `want two "stopping" lines (reload, stop):\n${text}`);
    assert.ok(
      stopping.every((n) => n >= 1),
      `pm2 acted while no client was connected: ${stopping.join(', ')}`,
    );
    assert.match(text, /worker \d+ got SIGINT; stopping/, 'pm2 signals the workers too (the whole tree)');
    const wrote = [...text.matchAll(/log-server: stopped; wrote (\d+) records?/g)].map((m) => Number(m[1]));
    assert.equal(wrote.length, 2, `want two "stopped; wrote" lines:\n${text}`);
    assert.equal(wrote[0] + wrote[1], lines.length, "the servers' summaries do not add up to the lines in the file");
  });
});

describe('pm2 cluster mode', () => {
  test('refused with a message to use fork mode, single-process and --multithreaded', async (t) => {
    const dir = await tempDir(t);
    const pm2 = await pm2Home(t, { LOG_SERVER_PORT: '0', LOG_SERVER_TARGET: join(dir, 'logs.jsonl') });
    // The real ecosystem file with exec_mode switched to cluster, once per mode.
    const ecosystem = require(ECOSYSTEM) as { apps: Record<string, unknown>[] };
    const base = ecosystem.apps[0];
    const apps = [
      { ...base, name: 'cluster-single', args: '', exec_mode: 'cluster', autorestart: false, script: join(ROOT, String(base.script)) },
      {
        ...base,
        name: 'cluster-multi',
        args: '--multithreaded',
        exec_mode: 'cluster',
        autorestart: false,
        script: join(ROOT, String(base.script)),
      },
    ];
    const file = join(dir, 'cluster.config.json');
    await fsp.writeFile(file, JSON.stringify({ apps }));
    const r = await pm2.run(['start', file]);
    assert.equal(r.code, 0, `pm2 start:\n${r.stdout}\n${r.stderr}`);
    for (const name of ['cluster-single', 'cluster-multi']) {
      const log = join(pm2.home, 'logs', `${name}-error.log`);
      const text = await waitFor(
        async () => {
          const s = existsSync(log) ? await fsp.readFile(log, 'utf8') : '';
          return /cannot run as a cluster worker/.test(s) ? s : null;
        },
        20_000,
        () => `the refusal in ${log}`,
      );
      assert.match(text, /log-server: cannot run as a cluster worker \(pm2 cluster mode\?\): start it in fork mode \(exec_mode: "fork"/);
      assert.doesNotMatch(text, /listening on/);
      const app = await pm2.app(name);
      assert.equal(app?.execMode, 'cluster_mode');
      assert.notEqual(app?.status, 'online', `${name} is online in cluster mode`);
    }
  });
});
