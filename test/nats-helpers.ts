/**
 * Helpers for the forwarding tests: a real nats-server (Debian's, JetStream on) bound to 127.0.0.1 on a free
 * port with its store in a temp dir, ended by pid in `t.after`; a 3-node cluster; reading a stream back.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { jetstream, jetstreamManager, StorageType, type StreamInfo } from '@nats-io/jetstream';
import { freePort, sleep, within } from './helpers';

export const NATS_SERVER = process.env.NATS_SERVER ?? 'nats-server';

export { freePort } from './helpers';

export interface NatsNode {
  readonly port: number;
  readonly url: string;
  readonly name: string;
  readonly pid: number | undefined;
  /** Everything the server printed so far. */
  log(): string;
  /** kill -9 and wait for the exit. */
  kill9(): Promise<void>;
  /** Starts it again on the same port, config and store; resolves once it accepts clients. */
  start(): Promise<void>;
}

interface NodeSpec {
  name: string;
  port: number;
  /** The whole config file (port, store and cluster included). */
  config: string;
  dir: string;
}

function startNode(t: TestContext, spec: NodeSpec): NatsNode {
  let proc: ChildProcess | null = null;
  let output = '';
  let exited: Promise<void> = Promise.resolve();
  const confPath = join(spec.dir, `${spec.name}.conf`);
  writeFileSync(confPath, spec.config);
  const node: NatsNode = {
    port: spec.port,
    url: `nats://127.0.0.1:${spec.port}`,
    name: spec.name,
    get pid() {
      return proc?.pid;
    },
    log: () => output,
    async kill9() {
      if (proc === null || proc.exitCode !== null || proc.signalCode !== null) return;
      proc.kill('SIGKILL');
      await within(exited, 10_000, `nats-server ${spec.name} to exit`);
    },
    async start() {
      const from = output.length; // "ready" of this start, not of an earlier one
      const p = spawn(NATS_SERVER, ['-c', confPath], { stdio: ['ignore', 'pipe', 'pipe'] });
      proc = p;
      exited = new Promise((r) => p.once('exit', () => r()));
      p.stdout?.setEncoding('utf8').on('data', (s: string) => (output += s));
      p.stderr?.setEncoding('utf8').on('data', (s: string) => (output += s));
      const deadline = Date.now() + 15_000;
      while (!output.includes('Server is ready', from)) {
        if (p.exitCode !== null) throw new Error(`nats-server ${spec.name} exited (${p.exitCode}):\n${output}`);
        if (Date.now() > deadline) throw new Error(`nats-server ${spec.name} not ready within 15 s:\n${output}`);
        await sleep(20);
      }
    },
  };
  t.after(() => node.kill9());
  return node;
}

/** One JetStream nats-server with its store in `dir`. */
export async function startNats(t: TestContext, dir: string): Promise<NatsNode> {
  const port = await freePort();
  const config = `server_name: n1\nlisten: 127.0.0.1:${port}\njetstream { store_dir: ${JSON.stringify(join(dir, 'n1'))} }\n`;
  const node = startNode(t, { name: 'n1', port, config, dir });
  await node.start();
  return node;
}

/** Three JetStream nats-servers clustered on loopback, each with its own store under `dir`. */
export async function startNatsCluster(t: TestContext, dir: string): Promise<NatsNode[]> {
  const ports = [await freePort(), await freePort(), await freePort()];
  const routes = [await freePort(), await freePort(), await freePort()];
  const nodes = ports.map((port, i) => {
    const name = `n${i + 1}`;
    const config = [
      `server_name: ${name}`,
      `listen: 127.0.0.1:${port}`,
      `jetstream { store_dir: ${JSON.stringify(join(dir, name))} }`,
      `cluster {`,
      `  name: logs`,
      `  listen: 127.0.0.1:${routes[i]}`,
      `  routes: [${routes.map((r) => `nats-route://127.0.0.1:${r}`).join(', ')}]`,
      `}`,
      '',
    ].join('\n');
    return startNode(t, { name, port, config, dir });
  });
  await Promise.all(nodes.map((n) => n.start()));
  // "Server is ready" is each node's own: the cluster can place a 3-replica stream only once all three are
  // peers of its metadata leader. Wait for that (placing one, then removing it), bounded.
  const nc = await connect({ servers: ports.map((p) => `nats://127.0.0.1:${p}`), timeout: 5000 });
  try {
    const deadline = Date.now() + 30_000;
    for (;;) {
      try {
        const jsm = await jetstreamManager(nc, { timeout: 2000 });
        await jsm.streams.add({ name: 'CLUSTER_READY', subjects: ['cluster.ready'], num_replicas: 3, storage: StorageType.Memory });
        await jsm.streams.delete('CLUSTER_READY');
        break;
      } catch (err) {
        if (Date.now() > deadline)
          throw new Error(`the 3-node NATS cluster could not place a 3-replica stream within 30 s: ${(err as Error).message}`);
        await sleep(200);
      }
    }
  } finally {
    await nc.close().catch(() => {});
  }
  return nodes;
}

/** Connects (bounded), closed in `t.after`. */
export async function natsClient(t: TestContext, servers: string | string[]): Promise<NatsConnection> {
  const nc = await connect({ servers, timeout: 5000, maxReconnectAttempts: -1, reconnectTimeWait: 200 });
  t.after(() => nc.close().catch(() => {}));
  return nc;
}

export async function streamInfo(nc: NatsConnection, stream: string): Promise<StreamInfo | null> {
  const jsm = await jetstreamManager(nc, { timeout: 5000 });
  try {
    return await jsm.streams.info(stream);
  } catch {
    return null;
  }
}

/** Messages stored so far in `stream`, or -1 while it cannot be read. */
export async function streamCount(nc: NatsConnection, stream: string): Promise<number> {
  return (await streamInfo(nc, stream).catch(() => null))?.state.messages ?? -1;
}

/** Waits until `stream` holds at least `n` messages (bounded); returns the count seen. */
export async function waitForStream(nc: NatsConnection, stream: string, n: number, timeoutMs = 30_000): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const c = await streamCount(nc, stream);
    if (c >= n) return c;
    if (Date.now() > deadline) throw new Error(`stream ${stream} has ${c} messages after ${timeoutMs} ms, want ${n}`);
    await sleep(20);
  }
}

/** Every message of `stream`, in stream order: subject, sequence and text. Read again from the start if a
 * read fails (a cluster node just killed may time a request out); fails after 30 s. */
export async function readStream(
  nc: NatsConnection,
  stream: string,
): Promise<{ subject: string; seq: number; text: string; msgId: string }[]> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      return await readStreamOnce(nc, stream);
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await sleep(200);
    }
  }
}

async function readStreamOnce(
  nc: NatsConnection,
  stream: string,
): Promise<{ subject: string; seq: number; text: string; msgId: string }[]> {
  const info = await (await jetstreamManager(nc, { timeout: 5000 })).streams.info(stream);
  const total = info.state.messages;
  const out: { subject: string; seq: number; text: string; msgId: string }[] = [];
  if (total === 0) return out;
  const js = jetstream(nc);
  const consumer = await js.consumers.get(stream); // an ordered consumer
  const deadline = Date.now() + 20_000;
  while (out.length < total && Date.now() < deadline) {
    const batch = await consumer.fetch({ max_messages: Math.min(1000, total - out.length), expires: 2000 });
    for await (const m of batch) out.push({ subject: m.subject, seq: m.seq, text: m.string(), msgId: m.headers?.get('Nats-Msg-Id') ?? '' });
  }
  return out;
}

/** Counts of "TAG I" records by tag and sequence: what is missing and what came more than once. */
export function tally(texts: string[], tags: string[], count: number): { missing: string[]; duplicated: string[] } {
  const seen = new Map<string, number>();
  for (const text of texts) {
    const r = JSON.parse(text) as { tag: string; seq: number };
    const key = `${r.tag} ${r.seq}`;
    seen.set(key, (seen.get(key) ?? 0) + 1);
  }
  const missing: string[] = [];
  const duplicated: string[] = [];
  for (const tag of tags) for (let i = 0; i < count; i++) if (!seen.has(`${tag} ${i}`)) missing.push(`${tag} ${i}`);
  for (const [k, n] of seen) if (n > 1) duplicated.push(`${k} x${n}`);
  return { missing, duplicated };
}
