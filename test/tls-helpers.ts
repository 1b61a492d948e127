/**
 * What the TLS tests share: certificates made with Debian's openssl for each test file (a CA, a server certificate
 * for 127.0.0.1 and localhost, a second one for reloads, a client certificate, another CA and a client of it, an
 * expired client certificate made by `openssl ca` with fixed dates in 2020), the Python examples as clients, Node
 * TLS clients for the hostile cases, and reading /metrics.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import * as net from 'node:net';
import { join } from 'node:path';
import * as tls from 'node:tls';
import type { TestContext } from 'node:test';
import { ROOT, run, sleep, tempDir, within, type Exit } from './helpers';

export const TLS_SOCKET_EXAMPLE = join(ROOT, 'examples', 'tls_socket_handler.py');
export const TLS_HTTP_EXAMPLE = join(ROOT, 'examples', 'tls_http_handler.py');

export interface Certs {
  dir: string;
  ca: string;
  caKey: string;
  /** CN=localhost, subjectAltName IP:127.0.0.1, DNS:localhost. */
  server: string;
  serverKey: string;
  /** A second server certificate (CN=localhost-2, same names), for reloads. */
  server2: string;
  server2Key: string;
  /** O=Example, CN=app-1, issued by the CA. */
  client: string;
  clientKey: string;
  /** Another CA, and a client certificate (CN=intruder) it issued. */
  otherCa: string;
  otherClient: string;
  otherClientKey: string;
  /** CN=app-1 by the CA, valid 2020-01-01 to 2020-01-02 only. */
  expired: string;
}

async function openssl(dir: string, args: string[]): Promise<void> {
  const r = await run('openssl', args, { cwd: dir, timeoutMs: 30_000 });
  if (r.code !== 0) throw new Error(`openssl ${args.join(' ')} exited ${r.code ?? r.signal}: ${r.stderr}`);
}

/** Makes every certificate of Certs in a fresh directory (removed after the test). */
/** The examples' arguments for a client that verifies the server by the test CA and presents the test client certificate. */
export const clientCertArgs = (certs: Certs): string[] => ['--ca', certs.ca, '--cert', certs.client, '--key', certs.clientKey];

export async function makeCerts(t: TestContext): Promise<Certs> {
  const dir = await tempDir(t, 'log-server-tls-');
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
  // The extensions Python 3.13's strict verification (VERIFY_X509_STRICT) asks for: a CA with its key usage,
  // certificates with key identifiers.
  const caExt = ['basicConstraints=critical,CA:TRUE', 'keyUsage=critical,keyCertSign,cRLSign', 'subjectKeyIdentifier=hash'];
  const caCert = async (name: string, subject: string) =>
    openssl(
      dir,
      ['req', '-x509', ...ec, '-keyout', `${name}.key`, '-out', `${name}.pem`, '-days', '30', '-subj', subject].concat(
        caExt.flatMap((e) => ['-addext', e]),
      ),
    );
  const issued = async (name: string, subject: string, ca: string, ext?: string) => {
    await openssl(dir, ['req', ...ec, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', subject]);
    const extArgs = ext === undefined ? [] : ['-extfile', ext];
    await openssl(
      dir,
      ['x509', '-req', '-in', `${name}.csr`, '-CA', `${ca}.pem`, '-CAkey', `${ca}.key`, '-CAcreateserial'].concat(
        ['-out', `${name}.pem`, '-days', '30'],
        extArgs,
      ),
    );
  };
  const leaf = 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n';
  writeFileSync(join(dir, 'server.ext'), `${leaf}extendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n`);
  writeFileSync(join(dir, 'client.ext'), `${leaf}extendedKeyUsage=clientAuth\n`);
  await caCert('ca', '/O=Test/CN=Test CA');
  await caCert('other-ca', '/O=Elsewhere/CN=Other CA');
  await issued('server', '/CN=localhost', 'ca', 'server.ext');
  await issued('server2', '/CN=localhost-2', 'ca', 'server.ext');
  await issued('client', '/O=Example/CN=app-1', 'ca', 'client.ext');
  await issued('other-client', '/CN=intruder', 'other-ca', 'client.ext');
  // openssl x509 cannot date a certificate in the past; openssl ca can (-startdate, -enddate).
  writeFileSync(join(dir, 'index.txt'), '');
  writeFileSync(join(dir, 'serial'), '1000\n');
  writeFileSync(
    join(dir, 'ca.cnf'),
    [
      '[ca]',
      'default_ca = d',
      '[d]',
      'database = index.txt',
      'new_certs_dir = .',
      'serial = serial',
      'default_md = sha256',
      'policy = p',
      'unique_subject = no',
      '[p]',
      'commonName = supplied',
      'organizationName = optional',
      '',
    ].join('\n'),
  );
  await openssl(
    dir,
    ['ca', '-batch', '-config', 'ca.cnf', '-cert', 'ca.pem', '-keyfile', 'ca.key', '-in', 'client.csr'].concat([
      '-out',
      'expired.pem',
      '-startdate',
      '20200101000000Z',
      '-enddate',
      '20200102000000Z',
      '-notext',
    ]),
  );
  const p = (f: string) => join(dir, f);
  return {
    dir,
    ca: p('ca.pem'),
    caKey: p('ca.key'),
    server: p('server.pem'),
    serverKey: p('server.key'),
    server2: p('server2.pem'),
    server2Key: p('server2.key'),
    client: p('client.pem'),
    clientKey: p('client.key'),
    otherCa: p('other-ca.pem'),
    otherClient: p('other-client.pem'),
    otherClientKey: p('other-client.key'),
    expired: p('expired.pem'),
  };
}

/** The server's TLS arguments: its certificate, and with `mutual` the CA clients must have theirs from. */
export const tlsArgs = (c: Certs, mutual = true): string[] =>
  ['--tls-cert', c.server, '--tls-key', c.serverKey].concat(mutual ? ['--tls-ca', c.ca] : []);

/** Runs examples/tls_socket_handler.py (bounded); `python` may be another interpreter. */
export function tlsSocketExample(args: string[], python = 'python3', env: NodeJS.ProcessEnv = process.env): Promise<Exit> {
  return run(python, [TLS_SOCKET_EXAMPLE, ...args], { timeoutMs: 60_000, env });
}

/** Runs examples/tls_http_handler.py (bounded). */
export function tlsHttpExample(args: string[]): Promise<Exit> {
  return run('python3', [TLS_HTTP_EXAMPLE, ...args], { timeoutMs: 60_000 });
}

/** A Node TLS client to 127.0.0.1:port; resolves once its side of the handshake is done (or it failed). */
export async function tlsClient(
  t: TestContext,
  port: number,
  o: { cert?: string; key?: string; ca: string },
): Promise<{ socket: tls.TLSSocket; error: Error | null; closed: Promise<void>; peer?: tls.PeerCertificate }> {
  const socket = tls.connect({
    host: '127.0.0.1',
    port,
    servername: 'localhost',
    ca: readFileSync(o.ca),
    cert: o.cert === undefined ? undefined : readFileSync(o.cert),
    key: o.key === undefined ? undefined : readFileSync(o.key),
  });
  t.after(() => socket.destroy());
  const closed = new Promise<void>((r) => socket.once('close', () => r()));
  const error = await within(
    new Promise<Error | null>((resolve) => {
      socket.once('secureConnect', () => resolve(null));
      socket.once('error', (err) => resolve(err));
    }),
    10_000,
    `TLS handshake with 127.0.0.1:${port}`,
  );
  socket.on('error', () => {});
  return { socket, error, closed, peer: error === null ? socket.getPeerCertificate() : undefined };
}

/** A plain TCP connection to 127.0.0.1:port (from `localAddress`); resolves once connected. */
export async function plainClient(t: TestContext, port: number, localAddress?: string): Promise<net.Socket> {
  const socket = net.connect({ host: '127.0.0.1', port, localAddress });
  t.after(() => socket.destroy());
  socket.on('error', () => {});
  await within(new Promise<void>((r) => socket.once('connect', () => r())), 10_000, `connect to 127.0.0.1:${port}`);
  return socket;
}

/** The metrics port, once the server's "metrics on http://127.0.0.1:P/metrics" line is on its stderr. */
export async function metricsPort(stderr: () => string): Promise<number> {
  const m = await waitForText(stderr, /metrics on http:\/\/127\.0\.0\.1:(\d+)\/metrics/, 'the metrics line');
  return Number(m[1]);
}

/** GET http://127.0.0.1:port/path: status and body. */
export async function httpGet(port: number, path: string): Promise<{ status: number; body: string }> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`);
  return { status: res.status, body: await res.text() };
}

/** The value of one sample of /metrics (0 if absent): `name{labels}` with the labels as Prometheus writes them. */
export async function metric(port: number, sample: string): Promise<number> {
  const { body } = await httpGet(port, '/metrics');
  const line = body.split('\n').find((l) => l.startsWith(sample + ' '));
  return line === undefined ? 0 : Number(line.slice(sample.length + 1));
}

/** Waits until `metric(port, sample)` is at least `want` (bounded); returns the last value. */
export async function waitForMetric(port: number, sample: string, want: number, timeoutMs = 30_000): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await metric(port, sample);
    if (v >= want) return v;
    if (Date.now() > deadline) throw new Error(`${sample} is ${v} after ${timeoutMs} ms, want at least ${want}`);
    await sleep(50);
  }
}

/** Waits until `text()` matches `re` (bounded). */
export async function waitForText(text: () => string, re: RegExp, what: string, timeoutMs = 15_000): Promise<RegExpMatchArray> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const m = text().match(re);
    if (m) return m;
    if (Date.now() > deadline) throw new Error(`no ${what} (${re}) after ${timeoutMs} ms in:\n${text()}`);
    await sleep(20);
  }
}
