/**
 * Throughput of the UDP and HTTP inputs with real Python handlers (scripts/other-clients.py): starts log-server
 * (dist/cli.js) on port 0, runs the clients at full speed, waits until the target stops growing, and reports
 * records sent, written, lost (UDP) and per second.
 *
 *   node --import tsx scripts/bench-inputs.ts --input udp --clients 1 --count 100000 [--mode mt2] [--udp-buffer N]
 *   node --import tsx scripts/bench-inputs.ts --input http --method POST --clients 4 --count 2000
 *   node --import tsx scripts/bench-inputs.ts --input udp --count 100000 --rate 40000   (each client at most 40k/s)
 *   node --import tsx scripts/bench-inputs.ts --input udp --node-blast 200000   (pre-made frames from one Node socket)
 *   node --import tsx scripts/bench-inputs.ts --input http --node-blast 50000  (POSTs over 8 keep-alive connections)
 */
import { spawn } from 'node:child_process';
import * as dgram from 'node:dgram';
import * as http from 'node:http';
import { mkdtempSync, readFileSync, rmSync, statSync, openSync, readSync, closeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { startServer, stopServer } from './lib/proc';

const ROOT = resolve(__dirname, '..');

const { values: a } = parseArgs({
  options: {
    input: { type: 'string', default: 'udp' },
    method: { type: 'string', default: 'GET' },
    clients: { type: 'string', default: '1' },
    count: { type: 'string', default: '20000' },
    rate: { type: 'string' },
    mode: { type: 'string', default: 'single' },
    'udp-buffer': { type: 'string' },
    'node-blast': { type: 'string' },
    help: { type: 'boolean', default: false },
  },
});
if (a.help) {
  process.stdout.write(readFileSync(__filename, 'utf8').split('*/')[0] + '*/\n');
  process.exit(0);
}

/** Counts the newlines of a growing file, reading only what was appended. */
class LineCounter {
  private offset = 0;
  lines = 0;
  private readonly buf = Buffer.allocUnsafe(1 << 20);
  constructor(private readonly path: string) {}
  poll(): number {
    let size = 0;
    try {
      size = statSync(this.path).size;
    } catch {
      return this.lines;
    }
    if (size <= this.offset) return this.lines;
    const fd = openSync(this.path, 'r');
    try {
      while (this.offset < size) {
        const n = readSync(fd, this.buf, 0, Math.min(this.buf.length, size - this.offset), this.offset);
        if (n <= 0) break;
        for (let i = 0; i < n; i++) if (this.buf[i] === 10) this.lines++;
        this.offset += n;
      }
    } finally {
      closeSync(fd);
    }
    return this.lines;
  }
}

function runClient(args: string[]): Promise<{ sent: number; errors: number; seconds: number }> {
  return new Promise((res, rej) => {
    const child = spawn('python3', [join(ROOT, 'scripts', 'other-clients.py'), ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => (out += s));
    child.once('exit', (code) => (code === 0 ? res(JSON.parse(out)) : rej(new Error(`client exited ${code}`))));
  });
}

/** One Node socket sending `count` copies of a real DatagramHandler frame as fast as send() takes them. */
async function nodeBlast(port: number, count: number): Promise<{ sent: number; errors: number; seconds: number }> {
  const corpus = readFileSync(join(ROOT, 'test', 'fixtures', 'decoder-cases.json'), 'utf8');
  const c = (JSON.parse(corpus) as { name: string; protocol: number; pickle: string }[]).find(
    (x) => x.name === 'record/info' && x.protocol === 1,
  )!;
  const pickle = Buffer.from(c.pickle, 'base64');
  const frame = Buffer.concat([Buffer.alloc(4), pickle]);
  frame.writeUInt32BE(pickle.length);
  const socket = dgram.createSocket('udp4');
  const t0 = performance.now();
  let errors = 0;
  for (let i = 0; i < count; i++) {
    await new Promise<void>((r) => socket.send(frame, port, '127.0.0.1', (err) => (err && errors++, r())));
  }
  const seconds = (performance.now() - t0) / 1000;
  socket.close();
  return { sent: count - errors, errors, seconds };
}

/** `count` POSTs of a typical HTTPHandler form, 8 at a time over keep-alive connections. */
async function httpBlast(port: number, count: number): Promise<{ sent: number; errors: number; seconds: number }> {
  const body = new URLSearchParams({
    name: 'bench.inputs',
    msg: 'Processing item %d',
    args: '(42,)',
    levelname: 'INFO',
    levelno: '20',
    pathname: '/srv/app/main.py',
    filename: 'main.py',
    module: 'main',
    exc_info: 'None',
    exc_text: 'None',
    stack_info: 'None',
    lineno: '36',
    funcName: 'handle',
    created: '1700000000.123456',
    msecs: '123.0',
    relativeCreated: '12.5',
    thread: '140085528271744',
    threadName: 'MainThread',
    processName: 'MainProcess',
    process: '7160',
    user_id: '1234',
    operation: 'process_item',
  }).toString();
  const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });
  let next = 0;
  let errors = 0;
  const t0 = performance.now();
  const worker = async () => {
    while (next < count) {
      next++;
      await new Promise<void>((r) => {
        const req = http.request(
          {
            host: '127.0.0.1',
            port,
            method: 'POST',
            path: '/log',
            agent,
            headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
          },
          (res) => {
            if (res.statusCode !== 200) errors++;
            res.resume().on('end', r);
          },
        );
        req.on('error', () => (errors++, r()));
        req.end(body);
      });
    }
  };
  await Promise.all(Array.from({ length: 8 }, worker));
  agent.destroy();
  return { sent: count - errors, errors, seconds: (performance.now() - t0) / 1000 };
}

/** User + system CPU seconds of one process so far (/proc/PID/stat fields 14 and 15, in clock ticks). */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-inputs-'));
  const target = join(dir, 'logs.jsonl');
  const args = a.mode === 'mt2' ? ['--multithreaded', '--workers', '2'] : [];
  if (a.input === 'http') args.push('--http-port', '0');
  if (a['udp-buffer']) args.push('--udp-buffer', a['udp-buffer']);
  const server = await startServer({ kind: 'log-server', host: '127.0.0.1', target, args, startTimeoutMs: 15_000 });
  try {
    const deadline = Date.now() + 5000;
    let also: RegExpMatchArray | null = null;
    while (!(also = /also listening on (.*)/.exec(server.stderr())) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    const httpPort = also?.[1].match(/http:\/\/[^:]+:(\d+)/)?.[1];
    const clients = Number(a.clients);
    const count = Number(a.count);
    const counter = new LineCounter(target);
    const cpuAtStart = cpuSeconds(server.pid); // start-up and warm-up left out
    const t0 = performance.now();
    const runs = a['node-blast']
      ? [a.input === 'udp' ? nodeBlast(server.port, Number(a['node-blast'])) : httpBlast(Number(httpPort), Number(a['node-blast']))]
      : Array.from({ length: clients }, () =>
          runClient([
            ...(a.input === 'udp'
              ? ['udp', '127.0.0.1', String(server.port), String(count)]
              : ['http', `127.0.0.1:${httpPort}`, '/log', a.method!, String(count)]),
            ...(a.rate ? [a.rate] : []),
          ]),
        );
    const results = await Promise.all(runs);
    const sent = results.reduce((n, r) => n + r.sent, 0);
    // Wait until every record is in, or the file has not grown for 1 s.
    let last = counter.poll();
    let lastAt = performance.now();
    let doneAt = lastAt;
    while (last < sent && performance.now() - lastAt < 1000) {
      await new Promise((r) => setTimeout(r, 20));
      const now = counter.poll();
      if (now !== last) {
        last = now;
        lastAt = doneAt = performance.now();
      }
    }
    if (last === sent) doneAt = lastAt;
    const seconds = (doneAt - t0) / 1000;
    const cpu = cpuSeconds(server.pid) - cpuAtStart;
    const stop = await stopServer(server, 30_000);
    const written = counter.poll();
    const sendRate = results.map((r) => Math.round(r.sent / r.seconds));
    const label = a['node-blast']
      ? `${a.input} node-blast`
      : `${a.input}${a.input === 'http' ? ' ' + a.method : ''} ${clients} client(s) × ${count}`;
    process.stdout.write(
      `${label}, ${a.mode}: sent ${sent} (handler errors ${results.reduce((n, r) => n + r.errors, 0)}), written ${written}, lost ${sent - written} ` +
        `(${((100 * (sent - written)) / Math.max(1, sent)).toFixed(2)}%); ${Math.round(written / seconds)} records/s end to end; ` +
        `client send rates ${sendRate.join(', ')}/s; server (primary) CPU ${cpu.toFixed(2)} s, ${((cpu * 1e6) / Math.max(1, written)).toFixed(1)} µs/record\n  ${stop.stopLine ?? '(no stop line)'}\n  ${also?.[1] ?? ''}\n`,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench-inputs: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
