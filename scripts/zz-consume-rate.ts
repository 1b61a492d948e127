import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from '@nats-io/transport-node';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
(async () => {
  const dir = mkdtempSync(join(tmpdir(), 'crate-'));
  const nats = spawn('nats-server', ['-js', '-sd', join(dir, 's'), '-a', '127.0.0.1', '-p', '14777'], { stdio: 'ignore' });
  await new Promise((r) => setTimeout(r, 800));
  const nc = await connect({ servers: 'nats://127.0.0.1:14777' });
  await (await jetstreamManager(nc)).streams.add({ name: 'LOGS', subjects: ['logs.>'] });
  const js = jetstream(nc);
  const line = JSON.stringify({ message: 'x'.repeat(800) });
  const N = 100000;
  for (let i = 0; i < N; i += 2000) await Promise.all(Array.from({ length: 2000 }, () => js.publish('logs.a', line)));
  const target = join(dir, 'out.txt');
  const t0 = performance.now();
  const c = spawn(process.execPath, ['dist/cli.js', 'consume', 'nats://127.0.0.1:14777', '--target', target, ...process.argv.slice(2)], { stdio: 'inherit' });
  for (;;) {
    let n = 0;
    try { n = readFileSync(target).reduce((a, b) => a + (b === 10 ? 1 : 0), 0); } catch {}
    if (n >= N) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  const s = (performance.now() - t0) / 1000;
  console.log(`consume ${process.argv.slice(2).join(' ')}: ${N} lines in ${s.toFixed(2)} s = ${Math.round(N / s)}/s (incl. start)`);
  c.kill('SIGTERM');
  await nc.close();
  nats.kill('SIGKILL');
  await new Promise((r) => setTimeout(r, 500));
  rmSync(dir, { recursive: true, force: true });
})();
