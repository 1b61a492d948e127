/**
 * Forwarding throughput: records/s from SocketHandler frames to JetStream acknowledgements.
 *
 *   npm run build && python3 scripts/make-corpus.py && npm run forward-bench -- [--count 200000] [--connections 4] [--server-args="--multithreaded --workers 2"]
 *
 * Starts a nats-server (JetStream, store in a temp dir, 127.0.0.1 on a free port), then runs the load test
 * (scripts/loadtest.ts: corpus replay against log-server --forward) and, meanwhile, polls the stream's message
 * count. Reports the time from the first record seen in the stream to the last one acknowledged (the stream's
 * count reaching --count), and the records/s that gives, next to the target file's own rate.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { connect } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { runLoadtest } from './loadtest';

async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen({ host: '127.0.0.1', port: 0 }, () => r()));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      count: { type: 'string', default: '200000' },
      connections: { type: 'string', default: '4' },
      'server-args': { type: 'string', default: '' },
    },
  });
  const count = Number(values.count);
  const dir = mkdtempSync(join(tmpdir(), 'forward-bench-'));
  const port = await freePort();
  const nats = spawn('nats-server', ['-js', '-sd', join(dir, 'store'), '-a', '127.0.0.1', '-p', String(port)], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let natsLog = '';
  nats.stderr.setEncoding('utf8').on('data', (s: string) => (natsLog += s));
  try {
    const deadline = Date.now() + 10_000;
    while (!natsLog.includes('Server is ready')) {
      if (Date.now() > deadline || nats.exitCode !== null) throw new Error(`nats-server did not start:\n${natsLog}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    const url = `nats://127.0.0.1:${port}`;
    const nc = await connect({ servers: url });
    const jsm = await jetstreamManager(nc);
    // The load test watches the target file, so it is kept (a tee: file and stream get every record).
    const serverArgs = ['--forward', url, ...values['server-args'].split(' ').filter(Boolean)];

    let firstSend = 0;
    let acked = 0;
    let allAckedAt: number | null = null;
    let polling = true;
    const poll = (async () => {
      while (polling) {
        try {
          const n = (await jsm.streams.info('LOGS')).state.messages;
          if (n > 0 && firstSend === 0) firstSend = performance.now();
          acked = n;
          if (n >= count && allAckedAt === null) allAckedAt = performance.now();
        } catch {
          // the stream is created by the server once it starts
        }
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    const t0 = performance.now();
    const result = await runLoadtest({
      count,
      connections: Number(values.connections),
      serverArgs,
      progress: true,
      timeoutSec: 300,
      stallSec: 10,
    });
    while (allAckedAt === null && performance.now() - t0 < 300_000 && acked < count) await new Promise((r) => setTimeout(r, 50));
    polling = false;
    await poll;
    await nc.close();
    const forwardSec = allAckedAt === null ? null : (allAckedAt - firstSend) / 1000;
    console.log(
      JSON.stringify(
        {
          records: count,
          serverArgs,
          sent: result.sent,
          fileWritten: result.written,
          streamMessages: acked,
          // From the first message seen in the stream (polled every 20 ms) to the last.
          forwardedSeconds: forwardSec,
          forwardedRecordsPerSec: forwardSec ? Math.round(count / forwardSec) : null,
          stop: result.stop,
          peakRssMiB: result.peakRssMiB,
          serverCpuSeconds: result.serverCpuSeconds,
          errors: result.errors,
        },
        null,
        2,
      ),
    );
  } finally {
    nats.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
