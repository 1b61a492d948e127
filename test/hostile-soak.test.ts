/**
 * A short hostile soak (scripts/hostile-soak.ts is the 60-second one): connections sending every kind of
 * hostile frame (scripts/lib/hostile-frames.ts) beside a real SocketHandler client. Bounds with room, no timings:
 * the server stays up, every honest record lands exactly once, every hostile frame is refused with its code (or
 * written, for the big but well-formed ones), and no process's peak memory passes 1 GiB (before the memo bombs
 * were bounded, one process passed 1.3 GB).
 */
import assert from 'node:assert/strict';
import * as net from 'node:net';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { MODES, tempDir } from './helpers';
import { launch, numbered, procStatus, readRecords, type Server } from './reliability-helpers';
import { HOSTILE_KINDS, frame, hostilePickle, rng } from '../scripts/lib/hostile-frames';

/** Sends every hostile kind `rounds` times over `connections` connections, one frame every `everyMs` each. */
async function attack(port: number, connections: number, rounds: number, everyMs: number): Promise<number> {
  const random = rng(7);
  let sent = 0;
  await Promise.all(
    Array.from({ length: connections }, async (_, c) => {
      for (let i = 0; i < rounds * HOSTILE_KINDS.length;) {
        const socket = net.connect({ host: '127.0.0.1', port });
        socket.on('error', () => {});
        socket.resume();
        await new Promise<void>((r) => (socket.once('connect', () => r()), socket.once('close', () => r())));
        while (!socket.destroyed && i < rounds * HOSTILE_KINDS.length) {
          const kind = HOSTILE_KINDS[(c + i++) % HOSTILE_KINDS.length];
          if (!socket.write(frame(hostilePickle(kind, random)))) await new Promise((r) => socket.once('drain', r));
          sent++;
          await sleep(everyMs);
        }
        socket.end();
      }
    }),
  );
  return sent;
}

async function peakKiB(server: Server): Promise<number> {
  let peak = 0;
  for (const pid of [server.pid, ...(await server.workers())]) peak = Math.max(peak, procStatus(pid)?.get('VmHWM') ?? 0);
  return peak;
}

for (const mode of MODES) {
  describe(`${mode.name}: a short hostile soak`, () => {
    test(
      'hostile frames of every kind beside a real client: it lands exactly, each frame is accounted for',
      { timeout: 180_000 },
      async (t) => {
        const dir = await tempDir(t);
        const target = join(dir, 'logs.jsonl');
        const server = await launch(t, { target, multithreaded: mode.multithreaded });
        const honest = numbered(server.port, 'honest', 2000, 0, 4);
        const sent = await attack(server.port, 4, 3, 200);
        const r = await honest;
        assert.equal(r.code, 0, r.stderr);
        const peak = await peakKiB(server);
        assert.ok(peak < 1024 * 1024, `a process peaked at ${Math.round(peak / 1024)} MiB`);
        server.signal('SIGTERM');
        const exit = await server.waitExit(30_000, 'exit after SIGTERM');
        assert.equal(exit.code, 0, exit.stderr);
        const records = await readRecords(target);
        const honestOnes = records.filter((rec) => rec.tag === 'honest');
        assert.equal(honestOnes.length, 2000, 'every honest record once');
        assert.deepEqual(
          honestOnes.map((rec) => rec.seq),
          Array.from({ length: 2000 }, (_, i) => i),
          'in order',
        );
        // Each hostile frame is refused with a code, or is the big but well-formed record it is.
        const m = /^log-server: stopped; wrote (\d+) records? to .*; refused (\d+) \(/m.exec(exit.stderr);
        assert.ok(m, exit.stderr);
        const written = Number(m[1]) - 2000;
        assert.equal(written + Number(m[2]), sent, `${sent} hostile frames sent, ${written} written and ${m[2]} refused:\n${exit.stderr}`);
        t.diagnostic(`${sent} hostile frames; peak RSS of a process ${Math.round(peak / 1024)} MiB`);
      },
    );
  });
}
