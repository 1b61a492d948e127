/**
 * A hostile soak: log-server under attack beside an honest client. Hostile connections send, round-robin, every
 * kind of scripts/lib/hostile-frames.ts (reference bombs of lists, tuples, dicts and strings, deep nesting, long
 * lists, big ints, many keys, garbage, mutations of real records), each reconnecting when the server closes it;
 * beside them the load test replays the corpus at a steady rate on its own connections, with a tag per record.
 * It reports the honest records' exact count and send→file latency, and the peak RSS of each server process,
 * its RSS idle before and 10 s after the storm.
 *
 *   node --import tsx scripts/hostile-soak.ts [--duration 60] [--rate 1000] [--attackers 8] [--every-ms 100]
 *                                             [--server-args="--multithreaded --workers 2"] [--kinds deep,long-list]
 *
 * The attackers run in a child process of their own (--attack), so that their work is not the server's nor the
 * honest client's.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { runLoadtest } from './loadtest';
import { ProcMonitor, startServer, stopServer } from './lib/proc';
import { HOSTILE_KINDS, frame, hostilePickle, rng, type HostileKind } from './lib/hostile-frames';

/** The attacker process: `attackers` connections, each sending one hostile frame every `everyMs`. */
async function attack(port: number, attackers: number, everyMs: number, seconds: number, kinds: HostileKind[]): Promise<void> {
  const random = rng(20261203);
  const frames = new Map(kinds.map((k) => [k, frame(hostilePickle(k, random))]));
  const sent: Record<string, number> = {};
  const until = Date.now() + seconds * 1000;
  let reconnects = 0;
  await Promise.all(
    Array.from({ length: attackers }, async (_, a) => {
      let i = a;
      while (Date.now() < until) {
        const socket = net.connect({ host: '127.0.0.1', port });
        socket.on('error', () => {});
        socket.resume();
        await new Promise<void>((r) => {
          socket.once('connect', () => r());
          socket.once('close', () => r());
        });
        while (!socket.destroyed && Date.now() < until) {
          const kind = kinds[i++ % kinds.length];
          // Mutations and garbage are made anew each time; the others are the same bytes again.
          const bytes = kind === 'mutation' || kind === 'garbage' ? frame(hostilePickle(kind, random)) : frames.get(kind)!;
          if (!socket.write(bytes)) await new Promise((r) => socket.once('drain', r));
          sent[kind] = (sent[kind] ?? 0) + 1;
          await sleep(everyMs);
        }
        socket.destroy();
        reconnects++;
      }
    }),
  );
  process.stdout.write(JSON.stringify({ sent, reconnects }) + '\n');
}

function rssKiB(pid: number): number {
  try {
    return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'latin1'))?.[1] ?? 0);
  } catch {
    return 0;
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      duration: { type: 'string', default: '60' },
      rate: { type: 'string', default: '1000' },
      attackers: { type: 'string', default: '8' },
      'every-ms': { type: 'string', default: '100' },
      'server-args': { type: 'string', default: '' },
      kinds: { type: 'string', default: HOSTILE_KINDS.join(',') },
      attack: { type: 'string' },
    },
  });
  const seconds = Number(values.duration);
  const kinds = values.kinds.split(',') as HostileKind[];
  const unknown = kinds.filter((k) => !HOSTILE_KINDS.includes(k));
  if (unknown.length > 0) throw new Error(`unknown --kinds ${unknown.join(',')}: the kinds are ${HOSTILE_KINDS.join(', ')}`);
  if (values.attack !== undefined)
    return attack(Number(values.attack), Number(values.attackers), Number(values['every-ms']), seconds, kinds);
  const args = values['server-args'].split(/\s+/).filter(Boolean);
  const dir = mkdtempSync(join(tmpdir(), 'log-server-soak-'));
  const target = join(dir, 'logs.jsonl');
  const server = await startServer({ kind: 'log-server', host: '127.0.0.1', target, args: ['--utc', ...args], startTimeoutMs: 20_000 });
  const monitor = new ProcMonitor(server.pid, 100);
  await sleep(2000);
  const idle = new Map(monitor.current().map((p) => [p.pid, rssKiB(p.pid)]));
  const attackers = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      __filename,
      '--attack',
      String(server.port),
      '--attackers',
      values.attackers,
      '--every-ms',
      values['every-ms'],
      '--duration',
      String(seconds),
      '--kinds',
      values.kinds,
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const attackersDone = new Promise((r) => attackers.once('exit', r));
  let attackReport = '';
  attackers.stdout.on('data', (d: Buffer) => (attackReport += d.toString()));
  const honest = await runLoadtest({
    port: server.port,
    target,
    rate: Number(values.rate),
    duration: seconds,
    connections: 4,
    latency: true,
    stallSec: 15,
  });
  await attackersDone;
  await sleep(10_000);
  const after = new Map([...idle.keys()].map((pid) => [pid, rssKiB(pid)]));
  const peaks = monitor.stop();
  const stop = await stopServer(server, 30_000);
  const lat = honest.latencyMs;
  const lines = [
    `server: log-server ${args.join(' ') || '(single-process)'}; ${seconds} s; ${values.attackers} hostile connections, a frame each every ${values['every-ms']} ms (${kinds.join(', ')})`,
    `hostile frames sent: ${attackReport.trim()}`,
    `honest: ${honest.sent.records} sent at ${values.rate}/s, ${honest.tags?.distinct ?? '?'} arrived, ${honest.tags?.missing ?? '?'} missing, ${honest.tags?.duplicates ?? '?'} twice`,
    `honest latency ms: p50 ${lat?.p50.toFixed(1)}, p99 ${lat?.p99.toFixed(1)}, max ${lat?.max.toFixed(1)}`,
    ...peaks.map(
      (p) =>
        `process ${p.pid} (${p.role}): peak RSS ${(p.peakRssKiB / 1024).toFixed(0)} MiB; idle ${((idle.get(p.pid) ?? 0) / 1024).toFixed(0)} MiB before, ${((after.get(p.pid) ?? 0) / 1024).toFixed(0)} MiB 10 s after; CPU ${p.cpuSeconds.toFixed(1)} s`,
    ),
    `stop: ${stop.stopLine ?? '(no stop line)'}`,
  ];
  process.stdout.write(lines.join('\n') + '\n');
}

void main();
