/**
 * TLS against plaintext, in one run (the machine is shared: only figures from the same run are compared):
 *
 *   node --import tsx scripts/bench-tls.ts [--rounds 5] [--count 200000] [--connections 4] [--server-args "--multithreaded"]
 *
 * Makes its own certificates (openssl, EC P-256, like test/tls-helpers.ts), then per round, in turn: the corpus
 * (bench/corpus.bin) replayed over plaintext, over TLS, over mutual TLS with --client-field, and plaintext with
 * --client-field (scripts/loadtest.ts, a fresh server each); then handshakes per second (mutual TLS, 16 at a
 * time, each connection closed once its handshake is done) and the server's resident memory with 1,000 idle
 * TLS connections against 1,000 idle plain ones. Prints medians over the rounds, and each round.
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tls from 'node:tls';
import { parseArgs } from 'node:util';
import { runLoadtest } from './loadtest';

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '5' },
    count: { type: 'string', default: '200000' },
    connections: { type: 'string', default: '4' },
    'server-args': { type: 'string', default: '' },
  },
});
const rounds = Number(values.rounds);
const count = Number(values.count);
const connections = Number(values.connections);
const extra = values['server-args']!.trim() === '' ? [] : values['server-args']!.trim().split(/\s+/);

const dir = mkdtempSync(join(tmpdir(), 'log-server-bench-tls-'));
const ssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'ignore' });
const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
ssl('req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=Bench CA');
writeFileSync(join(dir, 'server.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
for (const [name, subj, ext] of [
  ['server', '/CN=localhost', ['-extfile', 'server.ext']],
  ['client', '/CN=bench-client', []],
] as const) {
  ssl('req', ...ec, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', subj);
  ssl(
    'x509',
    '-req',
    '-in',
    `${name}.csr`,
    '-CA',
    'ca.pem',
    '-CAkey',
    'ca.key',
    '-CAcreateserial',
    '-out',
    `${name}.pem`,
    '-days',
    '2',
    ...ext,
  );
}
const p = (f: string) => join(dir, f);
const TLS = ['--tls-cert', p('server.pem'), '--tls-key', p('server.key')];
const MUTUAL = [...TLS, '--tls-ca', p('ca.pem')];
const clientTls = { ca: p('ca.pem'), cert: p('client.pem'), key: p('client.key') };

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

interface Variant {
  name: string;
  args: string[];
  tls: boolean;
}
const VARIANTS: Variant[] = [
  { name: 'plaintext', args: [], tls: false },
  { name: 'TLS', args: TLS, tls: true },
  { name: 'mutual TLS + --client-field', args: [...MUTUAL, '--client-field', 'client'], tls: true },
  { name: 'plaintext + --client-field', args: ['--client-field', 'client'], tls: false },
];

/** Starts dist/cli.js on port 0; resolves with it and its port once it listens. */
async function startServer(args: string[]): Promise<{ pid: number; port: number; stop: () => Promise<void> }> {
  const child = spawn(
    process.execPath,
    [join(__dirname, '..', 'dist', 'cli.js'), '--port', '0', '--no-udp', '--target', p('mem.jsonl'), ...extra, ...args],
    {
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
  let err = '';
  child.stderr!.setEncoding('utf8').on('data', (s: string) => (err += s));
  const deadline = Date.now() + 15_000;
  let m: RegExpMatchArray | null = null;
  while (!(m = err.match(/listening on 127\.0\.0\.1:(\d+)/))) {
    if (Date.now() > deadline) throw new Error(`server did not start:\n${err}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  return {
    pid: child.pid!,
    port: Number(m[1]),
    stop: () =>
      new Promise((resolve) => {
        child.once('exit', () => resolve());
        child.kill('SIGINT');
      }),
  };
}

/** Resident memory of a process and its children (workers), in MiB. */
function rssMiB(pid: number): number {
  const pids = [pid];
  let children = '';
  try {
    children = execFileSync('ps', ['-o', 'pid=', '--ppid', String(pid)], { encoding: 'utf8' });
  } catch {
    // none (ps exits 1)
  }
  for (const name of children.split('\n')) if (name.trim()) pids.push(Number(name));
  let kb = 0;
  for (const q of pids) {
    const m = readFileSync(`/proc/${q}/status`, 'utf8').match(/^VmRSS:\s+(\d+) kB/m);
    kb += m ? Number(m[1]) : 0;
  }
  return kb / 1024;
}

function connectTls(port: number): Promise<tls.TLSSocket> {
  return new Promise((resolve, reject) => {
    const s = tls.connect({
      host: '127.0.0.1',
      port,
      servername: 'localhost',
      secureContext: CLIENT_CONTEXT,
    });
    s.once('secureConnect', () => resolve(s));
    s.once('error', reject);
  });
}
const CA = readFileSync(p('ca.pem'));
const CERT = readFileSync(p('client.pem'));
const KEY = readFileSync(p('client.key'));
/** One client context for every connection (making one per connection would cost the client more than the handshake). */
const CLIENT_CONTEXT = tls.createSecureContext({ ca: CA, cert: CERT, key: KEY });

/** CPU seconds a process (and its children) has used. */
function cpuSeconds(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8')
    .slice(readFileSync(`/proc/${pid}/stat`, 'utf8').lastIndexOf(')') + 2)
    .split(' ');
  // utime, stime, cutime, cstime (fields 14-17), in clock ticks (100 a second)
  return (Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14])) / 100;
}

/** Server CPU ms per handshake, measured by handshakesPerSecond() (lets the figure not depend on the client). */
const cpuPerHandshake: number[] = [];

/** Handshakes per second: `n` mutual-TLS connections, `parallel` at a time, each closed once done. */
async function handshakesPerSecond(n: number, parallel: number): Promise<number> {
  const server = await startServer(MUTUAL);
  let left = n;
  const cpuBefore = cpuSeconds(server.pid);
  const started = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: parallel }, async () => {
      while (left-- > 0) (await connectTls(server.port)).destroy();
    }),
  );
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  // (Workers are children: their CPU is counted once they have exited, after the stop.)
  const pid = server.pid;
  const self = cpuSeconds(pid);
  await server.stop();
  cpuPerHandshake.push(((extra.includes('--multithreaded') ? NaN : self - cpuBefore) * 1000) / n);
  return n / seconds;
}

/** Server memory with `n` idle connections (TLS, or plain) beyond its memory with none, per connection, in KiB. */
async function memoryPerConnection(n: number, useTls: boolean): Promise<number> {
  const server = await startServer(useTls ? MUTUAL : []);
  await new Promise((r) => setTimeout(r, 500));
  const before = rssMiB(server.pid);
  const sockets: net.Socket[] = [];
  for (let i = 0; i < n; i++) {
    // From 127.0.0.2 ..., under --max-connections-per-client (256 by default).
    const localAddress = `127.0.0.${2 + (i % 8)}`;
    if (useTls) {
      const s = tls.connect({
        host: '127.0.0.1',
        port: server.port,
        servername: 'localhost',
        secureContext: CLIENT_CONTEXT,
        localAddress,
      } as tls.ConnectionOptions);
      await new Promise<void>((resolve, reject) => s.once('secureConnect', () => resolve()).once('error', reject));
      sockets.push(s);
    } else {
      const s = net.connect({ host: '127.0.0.1', port: server.port, localAddress });
      await new Promise<void>((resolve, reject) => s.once('connect', () => resolve()).once('error', reject));
      sockets.push(s);
    }
  }
  await new Promise((r) => setTimeout(r, 1000));
  const after = rssMiB(server.pid);
  for (const s of sockets) s.destroy();
  await server.stop();
  return ((after - before) * 1024) / n;
}

async function main(): Promise<void> {
  const rates = new Map<string, number[]>(VARIANTS.map((v) => [v.name, []]));
  const handshakes: number[] = [];
  const memTls: number[] = [];
  const memPlain: number[] = [];
  for (let r = 1; r <= rounds; r++) {
    for (const v of VARIANTS) {
      const res = await runLoadtest({
        count,
        connections,
        serverArgs: ['--no-udp', ...extra, ...v.args],
        tls: v.tls ? clientTls : undefined,
        label: v.name,
        progress: false,
      });
      if (!res.written.complete || res.written.recordsPerSec === null) throw new Error(`${v.name}: not every record was written`);
      rates.get(v.name)!.push(res.written.recordsPerSec);
    }
    handshakes.push(await handshakesPerSecond(2000, 16));
    memTls.push(await memoryPerConnection(1000, true));
    memPlain.push(await memoryPerConnection(1000, false));
    process.stderr.write(
      `round ${r}: ${VARIANTS.map((v) => `${v.name} ${Math.round(rates.get(v.name)!.at(-1)!)}/s`).join(', ')}; ` +
        `${Math.round(handshakes.at(-1)!)} handshakes/s; ${memTls.at(-1)!.toFixed(1)} KiB per TLS connection, ${memPlain.at(-1)!.toFixed(1)} per plain one\n`,
    );
  }
  const plain = median(rates.get('plaintext')!);
  const plainField = median(rates.get('plaintext + --client-field')!);
  console.log(
    `\nmedians over ${rounds} rounds (${count} records, ${connections} connections${extra.length ? `, ${extra.join(' ')}` : ''}):`,
  );
  for (const v of VARIANTS) {
    const m = median(rates.get(v.name)!);
    console.log(`  ${v.name.padEnd(30)} ${Math.round(m).toString().padStart(8)} records/s  ${(m / plain).toFixed(2)} of plaintext`);
  }
  // The field's cost, paired by round (plaintext without and with it, from the same round).
  const fieldRatio = median(rates.get('plaintext + --client-field')!.map((x, i) => x / rates.get('plaintext')![i]));
  console.log(
    `  --client-field on plaintext: ${fieldRatio.toFixed(2)} of plaintext (paired by round; medians ${Math.round(plainField)} vs ${Math.round(plain)})`,
  );
  console.log(
    `  handshakes/s (mutual TLS, EC P-256, 16 at a time, the client in one Node process on the same cores): ${Math.round(median(handshakes))}; server CPU per handshake ${median(cpuPerHandshake).toFixed(2)} ms (single-process only)`,
  );
  console.log(`  memory per idle connection: TLS ${median(memTls).toFixed(1)} KiB, plain ${median(memPlain).toFixed(1)} KiB`);
  rmSync(dir, { recursive: true, force: true });
}

main().catch((err: unknown) => {
  console.error(err);
  rmSync(dir, { recursive: true, force: true });
  process.exit(1);
});
