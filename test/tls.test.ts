/**
 * TLS end to end, in both modes: the built CLI with --tls-cert/--tls-key/--tls-ca, certificates made by openssl
 * (test/tls-helpers.ts), the Python examples (examples/tls_socket_handler.py, examples/tls_http_handler.py) as
 * the real clients, Node sockets as the hostile ones. What each test proves is in its name.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as dgram from 'node:dgram';
import * as net from 'node:net';
import * as tls from 'node:tls';
import { Duplex } from 'node:stream';
import { copyFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { MODES, PYTHON_DIR, assertBuilt, run, runCli, startCli, tempDir, waitForLines, within } from './helpers';
import {
  httpGet,
  clientCertArgs,
  makeCerts,
  metric,
  metricsPort,
  plainClient,
  tlsArgs,
  tlsClient,
  tlsHttpExample,
  tlsSocketExample,
  waitForMetric,
  waitForText,
} from './tls-helpers';

assertBuilt();

const parse = (lines: string[]) => lines.map((l) => JSON.parse(l) as Record<string, unknown>);
const failed = (reason: string, input = 'tcp') => `log_server_tls_handshakes_failed_total{input="${input}",reason="${reason}"}`;

for (const mode of MODES) {
  describe(`TLS, ${mode.name}`, () => {
    test('mutual TLS: the Python TLSSocketHandler and HTTPS HTTPHandler examples get in, each line says who sent it (CN, subject), /healthz and the start line say TLS and whose CA; UDP is off', async (t) => {
      const certs = await makeCerts(t);
      const dir = await tempDir(t);
      const target = join(dir, 'logs.jsonl');
      const server = await startCli(t, {
        target,
        multithreaded: mode.multithreaded,
        args: [...tlsArgs(certs), '--client-field', 'client', '--http-port', '0', '--metrics-port', '0'],
      });
      const start = await waitForText(server.stderr, /^log-server: TLS on: (.*)$/m, 'the TLS start line');
      assert.match(start[1], /TCP and HTTP \(HTTPS\) speak TLS only, certificate "CN=localhost" \(issued by "O=Test, CN=Test CA"/);
      assert.match(start[1], /clients must present a certificate issued by "O=Test, CN=Test CA"/);
      const also = await waitForText(server.stderr, /^log-server: also listening on (.*)$/m, 'the also-listening line');
      assert.doesNotMatch(also[1], /udp/, 'no UDP input with TLS unless asked for');
      const httpsPort = Number(also[1].match(/^https:\/\/127\.0\.0\.1:(\d+)\/log$/)?.[1]);
      assert.ok(httpsPort > 0, also[1]);
      // Nothing is bound to UDP at the TCP port: binding it here succeeds.
      const udp = dgram.createSocket('udp4');
      await new Promise<void>((resolve, reject) => {
        udp.once('error', reject);
        udp.bind(server.port, '127.0.0.1', () => resolve());
      });
      udp.close();

      const tcp = await tlsSocketExample(['127.0.0.1', String(server.port), ...clientCertArgs(certs), '--count', '5']);
      assert.equal(tcp.code, 0, tcp.stderr);
      const https = await tlsHttpExample([`127.0.0.1:${httpsPort}`, ...clientCertArgs(certs), '--count', '3']);
      assert.equal(https.code, 0, https.stderr);
      const lines = parse(await waitForLines(target, 8));
      const who = lines.map((l) => l.client as Record<string, unknown>);
      for (const [i, l] of lines.entries()) {
        assert.equal(Object.keys(l).at(-1), 'client', 'the field comes after the record own fields');
        assert.equal(who[i].address, '127.0.0.1');
        assert.equal(typeof who[i].port, 'number');
        assert.equal(who[i].tls, true);
        assert.equal(who[i].cn, 'app-1');
        assert.equal(who[i].subject, 'O=Example, CN=app-1');
      }
      assert.deepEqual(
        who.map((w) => w.input),
        ['tcp', 'tcp', 'tcp', 'tcp', 'tcp', 'http', 'http', 'http'],
      );
      assert.deepEqual(
        lines.slice(0, 5).map((l) => l.message),
        [0, 1, 2, 3, 4].map((i) => `hello over TLS ${i}`),
      );
      const mport = await metricsPort(server.stderr);
      assert.equal(await waitForMetric(mport, 'log_server_tls_handshakes_total{input="tcp"}', 1), 1);
      assert.equal(await metric(mport, 'log_server_tls_handshakes_total{input="http"}'), 3);
      const health = await httpGet(mport, '/healthz');
      assert.equal(health.status, 200);
      assert.match(
        health.body,
        /^ok\ntls: on, certificate "CN=localhost" .*clients must present a certificate issued by "O=Test, CN=Test CA"/,
      );
      const exit = await server.stop();
      assert.equal(exit.code, 0, exit.stderr);
    });

    test('hostile and broken clients are each refused with their code and counted, and a real client beside them loses nothing: plaintext SocketHandler, no certificate, another CA, expired, garbage after the handshake', async (t) => {
      const certs = await makeCerts(t);
      const dir = await tempDir(t);
      const target = join(dir, 'logs.jsonl');
      const server = await startCli(t, { target, multithreaded: mode.multithreaded, args: [...tlsArgs(certs), '--metrics-port', '0'] });
      const mport = await metricsPort(server.stderr);
      const port = server.port;

      // A stock SocketHandler pointed at the TLS port (it reports its own failures; its records are lost).
      await run('python3', [join(PYTHON_DIR, 'send_records.py'), 'plain', '127.0.0.1', String(port), '3', 'plaintext'], {
        timeoutMs: 30_000,
      });
      // No client certificate: an alert in the handshake.
      const none = await tlsClient(t, port, { ca: certs.ca });
      await within(none.closed, 10_000, 'the server to close the connection without a certificate');
      // A certificate from another CA, and an expired one: closed as soon as the handshake ends.
      for (const [cert, key] of [
        [certs.otherClient, certs.otherClientKey],
        [certs.expired, certs.clientKey],
      ]) {
        const c = await tlsClient(t, port, { ca: certs.ca, cert, key });
        c.socket.write(Buffer.from('not read'));
        await within(c.closed, 10_000, `the server to close the connection of ${cert}`);
      }
      // Garbage after a good handshake: bytes that are not TLS records, straight onto the TCP connection.
      // The TLS client runs over a stream of its own, so that bytes can also be put on the TCP connection directly.
      const socket = net.connect({ host: '127.0.0.1', port });
      t.after(() => socket.destroy());
      socket.on('error', () => {});
      const stream = new Duplex({
        read() {},
        write(chunk: Buffer, _enc, done) {
          socket.write(chunk, () => done());
        },
      });
      socket.on('data', (d: Buffer) => stream.push(d));
      socket.on('end', () => stream.push(null));
      const s = tls.connect({
        socket,
        servername: 'localhost',
        ca: readFileSync(certs.ca),
        cert: readFileSync(certs.client),
        key: readFileSync(certs.clientKey),
      });
      s.on('error', () => {});
      await within(new Promise<void>((r) => s.once('secureConnect', () => r())), 10_000, 'handshake of the garbage client');
      // A good record first, and its line written: the server's side of the handshake is done too (in TLS 1.3 the
      // client finishes first), so what follows arrives after it.
      s.write(Buffer.from(spawnSync('python3', ['-c', PICKLE.replace('opened before the reload', 'before the garbage')]).stdout));
      await waitForLines(target, 1);
      const broken = new Promise<void>((r) => socket.once('close', () => r()));
      socket.write(Buffer.from('\x17\x03\x03\x00\x20this is not an encrypted record!!'));
      await within(broken, 10_000, 'the server to close the broken TLS stream');

      // A real client beside all that: every record, once, in order.
      const real = await tlsSocketExample(['127.0.0.1', String(port), ...clientCertArgs(certs), '--count', '50']);
      assert.equal(real.code, 0, real.stderr);
      const lines = parse(await waitForLines(target, 51)).slice(1);
      assert.deepEqual(
        lines.map((l) => l.message),
        Array.from({ length: 50 }, (_, i) => `hello over TLS ${i}`),
      );

      assert.ok((await waitForMetric(mport, failed('not-tls'), 1)) >= 1);
      assert.equal(await waitForMetric(mport, failed('tls-no-client-cert'), 1), 1);
      assert.equal(await waitForMetric(mport, failed('tls-untrusted-cert'), 1), 1);
      assert.equal(await waitForMetric(mport, failed('tls-expired-cert'), 1), 1);
      const stderr = server.stderr();
      for (const [code, why] of [
        ['not-tls', /it does not speak TLS \(ERR_SSL_WRONG_VERSION_NUMBER\): a plain SocketHandler\?/],
        ['tls-no-client-cert', /it sent no certificate/],
        ['tls-untrusted-cert', /its certificate was not issued by a CA of --tls-ca/],
        ['tls-expired-cert', /its certificate has expired \(CERT_HAS_EXPIRED\)/],
      ] as const) {
        assert.match(stderr, new RegExp(`refused a TLS connection from 127\\.0\\.0\\.1:\\d+ \\(${code}\\): ${why.source}`), code);
      }
      await waitForText(
        server.stderr,
        /refused a connection from 127\.0\.0\.1:\d+ \(tls-bad-record\): the TLS stream broke after the handshake/,
        'tls-bad-record',
      );
      const exit = await server.stop();
      assert.equal(exit.code, 0, exit.stderr);
      assert.match(exit.stderr, /^log-server: stopped; wrote 51 records .*; TLS handshakes failed \d+ \(.*tls-expired-cert 1/m);
      assert.match(exit.stderr, /refused \d+ \(.*tls-bad-record 1/);
    });

    test('1,000 handshakes that never complete (silent, or a ClientHello cut short) are closed after --tls-handshake-timeout and counted; a real client gets in meanwhile', async (t) => {
      const certs = await makeCerts(t);
      const dir = await tempDir(t);
      const target = join(dir, 'logs.jsonl');
      // The default limits stay: --max-connections 1024 holds the 1,000 and the real client; the 1,000 come from
      // 127.0.0.2 to 127.0.0.5, 250 each, under --max-connections-per-client 256 (loopback is all of 127/8), so
      // every one of them reaches the handshake and is closed by the timeout, not by a connection limit.
      const server = await startCli(t, {
        target,
        multithreaded: mode.multithreaded,
        args: [...tlsArgs(certs), '--metrics-port', '0', '--tls-handshake-timeout', '4000'],
      });
      const mport = await metricsPort(server.stderr);
      const hello = Buffer.from('16030100f4010000f00303', 'hex'); // a ClientHello's first bytes, then nothing
      const closedByServer: Promise<void>[] = [];
      for (let i = 0; i < 1000; i++) {
        const s = await plainClient(t, server.port, `127.0.0.${2 + (i % 4)}`);
        if (i % 2 === 1) s.write(hello);
        closedByServer.push(new Promise((r) => s.once('close', () => r())));
      }
      assert.ok((await waitForMetric(mport, 'log_server_connections_open', 1000)) >= 1000);
      const real = await tlsSocketExample(['127.0.0.1', String(server.port), ...clientCertArgs(certs), '--count', '20']);
      assert.equal(real.code, 0, real.stderr);
      assert.equal((await waitForLines(target, 20)).length, 20);
      assert.equal(await waitForMetric(mport, failed('tls-handshake-timeout'), 1000, 60_000), 1000);
      await within(Promise.all(closedByServer), 30_000, 'the server to close all 1,000');
      assert.equal(await metric(mport, 'log_server_connections_refused_total{reason="too-many-from-client"}'), 0);
      assert.match(server.stderr(), /\(tls-handshake-timeout\): the handshake did not complete within 4000 ms \(--tls-handshake-timeout\)/);
      const exit = await server.stop();
      assert.equal(exit.code, 0, exit.stderr);
    });

    test('SIGHUP reads the certificate files again: new connections get the new certificate, an open one goes on; a bad new file is refused with a line and the one in use stays', async (t) => {
      const certs = await makeCerts(t);
      const dir = await tempDir(t);
      const target = join(dir, 'logs.jsonl');
      const cert = join(dir, 'server.pem');
      const key = join(dir, 'server.key');
      copyFileSync(certs.server, cert);
      copyFileSync(certs.serverKey, key);
      const server = await startCli(t, {
        target,
        multithreaded: mode.multithreaded,
        args: ['--tls-cert', cert, '--tls-key', key, '--tls-ca', certs.ca, '--metrics-port', '0', '--http-port', '0'],
      });
      const mport = await metricsPort(server.stderr);
      const reloadHttps = Number((await waitForText(server.stderr, /also listening on https:\/\/127\.0\.0\.1:(\d+)/, 'HTTPS'))[1]);
      const opts = { ca: certs.ca, cert: certs.client, key: certs.clientKey };
      const before = await tlsClient(t, server.port, opts);
      assert.equal(before.peer?.subject.CN, 'localhost');
      // An open connection from before the reload.
      const open = await tlsClient(t, server.port, opts);

      copyFileSync(certs.server2, cert);
      copyFileSync(certs.server2Key, key);
      server.proc.kill('SIGHUP');
      await waitForText(server.stderr, /^log-server: TLS files read again: certificate "CN=localhost-2"/m, 'the reload line');
      const after = await tlsClient(t, server.port, opts);
      assert.equal(after.peer?.subject.CN, 'localhost-2', 'a new connection gets the new certificate');
      assert.equal((await tlsClient(t, reloadHttps, opts)).peer?.subject.CN, 'localhost-2', 'HTTPS too');

      writeFileSync(cert, 'not a certificate\n');
      server.proc.kill('SIGHUP');
      await waitForText(
        server.stderr,
        new RegExp(
          `^log-server: kept the TLS certificates in use: cannot use --tls-cert ${cert.replace(/[.]/g, '\\.')}: it holds no PEM certificate`,
          'm',
        ),
        'the refused reload line',
      );
      assert.equal(await metric(mport, 'log_server_tls_reloads_total{result="failed"}'), 1);
      assert.equal(await metric(mport, 'log_server_tls_reloads_total{result="ok"}'), 1);
      const still = await tlsClient(t, server.port, opts);
      assert.equal(still.peer?.subject.CN, 'localhost-2', 'the certificate in use stays');
      assert.equal((await tlsClient(t, reloadHttps, opts)).peer?.subject.CN, 'localhost-2', 'on HTTPS too');
      // The connection from before both reloads still works: a frame sent on it now is written.
      const record = Buffer.from(spawnSync('python3', ['-c', PICKLE], { encoding: 'buffer' }).stdout);
      open.socket.write(record);
      const lines = parse(await waitForLines(target, 1));
      assert.equal(lines[0].message, 'sent on a connection opened before the reload');
      const exit = await server.stop();
      assert.equal(exit.code, 0, exit.stderr);
    });
  });
}

/** Prints one SocketHandler frame (length + pickle) of a record, to stdout. */
const PICKLE = `
import logging, logging.handlers, sys
h = logging.handlers.SocketHandler('localhost', None)
r = logging.makeLogRecord({'msg': 'sent on a connection opened before the reload', 'levelname': 'INFO', 'name': 'reload'})
sys.stdout.buffer.write(h.makePickle(r))
`;

describe('TLS options at the command line', () => {
  test('--tls-cert without --tls-key, --tls-ca without --tls-cert: exit 2 naming what was typed', async () => {
    const r = await runCli(['--port', '0', '--tls-cert', 'server.pem']);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /^log-server: tls-cert needs tls-key, the file of its private key \(tls-cert is "server\.pem"\)/m);
    const k = await runCli(['--port', '0', '--tls-key', 'server.key']);
    assert.equal(k.code, 2, k.stderr);
    assert.match(k.stderr, /tls-key needs tls-cert/);
    const ca = await runCli(['--port', '0', '--tls-ca', 'ca.pem']);
    assert.equal(ca.code, 2, ca.stderr);
    assert.match(ca.stderr, /tls-ca needs tls-cert and tls-key/);
  });

  test('a missing, unusable or mismatched file: exit 1 with the path and why, and no target file left behind', async (t) => {
    const certs = await makeCerts(t);
    const dir = await tempDir(t);
    const target = join(dir, 'logs.jsonl');
    const junk = join(dir, 'junk.pem');
    writeFileSync(junk, 'junk\n');
    const cases: [string[], RegExp][] = [
      [
        ['--tls-cert', join(dir, 'missing.pem'), '--tls-key', certs.serverKey],
        /^log-server: cannot read --tls-cert \S+missing\.pem: no such file$/m,
      ],
      [
        ['--tls-cert', certs.server, '--tls-key', certs.clientKey],
        /^log-server: --tls-key \S+client\.key is not the key of --tls-cert \S+server\.pem$/m,
      ],
      [['--tls-cert', junk, '--tls-key', certs.serverKey], /cannot use --tls-cert \S+junk\.pem: it holds no PEM certificate/],
      [['--tls-cert', certs.server, '--tls-key', junk], /cannot use --tls-key \S+junk\.pem: it holds no PEM private key/],
      [[...tlsArgs(certs, false), '--tls-ca', junk], /cannot use --tls-ca \S+junk\.pem: it holds no PEM certificate/],
    ];
    for (const [args, want] of cases) {
      const r = await runCli(['--port', '0', '--target', target, ...args]);
      assert.equal(r.code, 1, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, want);
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
      assert.equal(existsSync(target), false, 'a failed start creates no target');
    }
  });

  test('the TLS options are read from LOG_SERVER_TLS_CERT, _KEY, _CA and _HANDSHAKE_TIMEOUT; UDP comes back with --udp, with a warning', async (t) => {
    const certs = await makeCerts(t);
    const dir = await tempDir(t);
    const server = await startCli(t, {
      target: join(dir, 'logs.jsonl'),
      args: ['--udp'],
      env: {
        ...process.env,
        LOG_SERVER_TLS_CERT: certs.server,
        LOG_SERVER_TLS_KEY: certs.serverKey,
        LOG_SERVER_TLS_CA: certs.ca,
        LOG_SERVER_TLS_HANDSHAKE_TIMEOUT: '2500',
      },
    });
    await waitForText(server.stderr, /^log-server: TLS on: TCP speaks TLS only.*--tls-ca /m, 'the TLS line');
    await waitForText(
      server.stderr,
      /^log-server: warning: UDP is on beside TLS \(--udp\): datagrams are not encrypted/m,
      'the UDP warning',
    );
    await waitForText(server.stderr, /^log-server: also listening on udp 127\.0\.0\.1:/m, 'UDP');
    const c = await tlsClient(t, server.port, { ca: certs.ca });
    await within(c.closed, 10_000, 'refused without a certificate: --tls-ca came from the environment');
    const bad = await runCli(['--port', '0'], { env: { ...process.env, LOG_SERVER_TLS_HANDSHAKE_TIMEOUT: '5' } });
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /tls-handshake-timeout must be an integer of at least 100 \(ms\), not 5/);
    await server.stop();
  });
});

describe('the TLS example from every installed Python 3.8 to 3.13', () => {
  const VERSIONS = ['3.8.18', '3.9.18', '3.10.13', '3.11.7', '3.12.1', '3.13.0'];
  const installed = (v: string) =>
    spawnSync('python', ['-c', 'pass'], { env: { ...process.env, PYENV_VERSION: v }, stdio: 'ignore' }).status === 0;

  test('each sends its records over mutual TLS', async (t) => {
    const present = VERSIONS.filter(installed);
    if (present.length === 0) {
      t.skip('no pyenv Python 3.8-3.13 (PYENV_VERSION=V python must run each)');
      return;
    }
    const missing = VERSIONS.filter((v) => !present.includes(v));
    if (missing.length > 0) t.diagnostic(`not installed, not tested: ${missing.join(', ')}`);
    const certs = await makeCerts(t);
    const dir = await tempDir(t);
    const target = join(dir, 'logs.jsonl');
    const server = await startCli(t, { target, args: [...tlsArgs(certs), '--client-field', 'sender'] });
    for (const v of present) {
      const r = await tlsSocketExample(
        ['127.0.0.1', String(server.port), ...clientCertArgs(certs), '--count', '2', '--message', `from ${v}`],
        'python',
        { ...process.env, PYENV_VERSION: v },
      );
      assert.equal(r.code, 0, `Python ${v}: ${r.stderr}`);
    }
    const lines = parse(await waitForLines(target, present.length * 2));
    for (const v of present) {
      const mine = lines.filter((l) => String(l.message).startsWith(`from ${v} `));
      assert.equal(mine.length, 2, `Python ${v}`);
      for (const l of mine) assert.equal((l.sender as { cn: string }).cn, 'app-1');
    }
    await server.stop();
  });
});
