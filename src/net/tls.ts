/**
 * TLS, in one place: reading the --tls-cert, --tls-key and --tls-ca files and checking what they hold
 * (TlsContext), saying what they are (the start line, /healthz), reading them again (SIGHUP), and serving the
 * handshake of each accepted connection (TlsAcceptor). Every input that speaks TLS (TCP, HTTP) and every
 * process that terminates it (the single process, each worker) uses these, so the rules are the same everywhere.
 *
 * TLS is added at the moment a connection is accepted, to the plain socket the listener gave (or a worker was
 * handed): the listening socket itself stays plain TCP, and whatever hands listeners or connections around works
 * on plain sockets. The acceptor runs each accepted socket through a tls.Server that never listens (Node's own
 * handshake, verification, handshake timeout and errors, fed with `emit('connection', socket)`, as https does
 * for its own listener): a verified connection comes out as a tls.TLSSocket, a failed one is counted by reason
 * (TLS_HANDSHAKE_REFUSAL_CODES), said on stderr (rate-limited) and closed.
 *
 * Verification is Node's: with --tls-ca the server asks for a client certificate and rejects the connection
 * unless it verifies against those CAs alone (not the system's). A client that sends none gets a TLS alert in
 * the handshake; one whose certificate fails is closed as soon as the handshake is over (Node verifies then; in
 * TLS 1.3 the client has already finished its side), before a byte of it is read.
 *
 * One internal of Node is used, checked once at load: a TLSSocket's `_parent`, the plain socket it wraps, to find
 * the accepted connection (its address, its timer) again when the handshake ends. Where a Node lacks it, the
 * acceptor's own timer is not armed (it could not be stopped for a connection that got through): Node's
 * handshake timeout (of inactivity) alone applies, and a report names the address Node still knows.
 */
import { X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { Socket } from 'node:net';
import * as tls from 'node:tls';
import { setTimeout as sleep } from 'node:timers/promises';
import { ServerError } from '../core/errors';
import type { TlsHandshakeRefusalCode } from '../core/refusals';
import type { Reporter } from '../core/report';
import type { InputStats } from '../core/stats';
import type { ClientIdentity } from '../format/client-field';
import { clientAddress } from './access';

/** The files, as given (--tls-cert, --tls-key, --tls-ca). */
export interface TlsFiles {
  readonly cert: string;
  readonly key: string;
  readonly ca?: string;
}

/** What the files held (PEM), as read: what a worker is sent. */
export interface TlsMaterial {
  readonly cert: Buffer;
  readonly key: Buffer;
  readonly ca?: Buffer;
}

/** The certificates found in a PEM text. */
function certificatesIn(pem: Buffer): X509Certificate[] {
  const blocks = pem.toString('latin1').match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  return blocks.map((b) => new X509Certificate(b));
}

/** "O=Example, CN=app-1": a certificate's subject (or issuer) as its attributes in order. */
export const nameOf = (multiline: string): string => multiline.split('\n').join(', ');

/** "2026-12-06T19:17:20Z" */
const isoDate = (openssl: string): string => new Date(openssl).toISOString().replace(/\.000Z$/, 'Z');

/** A TLS setup checked and ready to use: the material, what it is, and whether client certificates are asked. */
export class TlsContext {
  private constructor(
    readonly files: TlsFiles,
    readonly material: TlsMaterial,
    /** The server's certificate (the first of --tls-cert). */
    readonly certificate: X509Certificate,
    /** The CAs of --tls-ca (empty without it). */
    readonly cas: readonly X509Certificate[],
  ) {}

  /** With --tls-ca: clients must present a certificate. */
  get requestCert(): boolean {
    return this.material.ca !== undefined;
  }

  /** Reads the files; throws ServerError (LOGSERVER_ERR_FILE: cannot be read; LOGSERVER_ERR_TLS: cannot be used). */
  static async load(files: TlsFiles): Promise<TlsContext> {
    const read = async (flag: string, path: string): Promise<Buffer> => {
      try {
        return await readFile(path);
      } catch (err) {
        const e = err as NodeJS.ErrnoException;
        const why =
          e.code === 'ENOENT'
            ? 'no such file'
            : e.code === 'EACCES' || e.code === 'EPERM'
              ? 'permission denied'
              : e.code === 'EISDIR'
                ? 'it is a directory'
                : e.message;
        throw new ServerError('LOGSERVER_ERR_FILE', `cannot read --${flag} ${path}: ${why}`, { cause: err });
      }
    };
    // One after the other: the first file that cannot be read is the one said.
    const cert = await read('tls-cert', files.cert);
    const key = await read('tls-key', files.key);
    const ca = files.ca === undefined ? undefined : await read('tls-ca', files.ca);
    return TlsContext.from(files, { cert, key, ca });
  }

  /** Checks material already read (a worker's, sent by the primary); throws ServerError LOGSERVER_ERR_TLS. */
  static from(files: TlsFiles, material: TlsMaterial): TlsContext {
    const bad = (message: string, cause?: unknown) => new ServerError('LOGSERVER_ERR_TLS', message, { cause });
    let certs: X509Certificate[];
    try {
      certs = certificatesIn(material.cert);
    } catch (err) {
      throw bad(`cannot use --tls-cert ${files.cert}: a certificate in it cannot be read (${(err as Error).message})`, err);
    }
    if (certs.length === 0) throw bad(`cannot use --tls-cert ${files.cert}: it holds no PEM certificate (-----BEGIN CERTIFICATE-----)`);
    const keyText = material.key.toString('latin1');
    if (!/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(keyText))
      throw bad(`cannot use --tls-key ${files.key}: it holds no PEM private key (-----BEGIN PRIVATE KEY-----)`);
    if (/-----BEGIN ENCRYPTED PRIVATE KEY-----|Proc-Type: 4,ENCRYPTED/.test(keyText))
      throw bad(
        `cannot use --tls-key ${files.key}: it is encrypted, and a passphrase is not supported (decrypt it: openssl pkey -in KEY -out KEY.plain)`,
      );
    let cas: X509Certificate[] = [];
    if (material.ca !== undefined) {
      try {
        cas = certificatesIn(material.ca);
      } catch (err) {
        throw bad(`cannot use --tls-ca ${files.ca}: a certificate in it cannot be read (${(err as Error).message})`, err);
      }
      if (cas.length === 0) throw bad(`cannot use --tls-ca ${files.ca}: it holds no PEM certificate (-----BEGIN CERTIFICATE-----)`);
    }
    try {
      tls.createSecureContext(material);
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      const why =
        e.code === 'ERR_OSSL_X509_KEY_VALUES_MISMATCH'
          ? `--tls-key ${files.key} is not the key of --tls-cert ${files.cert}`
          : `cannot use --tls-cert ${files.cert} with --tls-key ${files.key}: ${e.message}`;
      throw bad(why, err);
    }
    return new TlsContext(files, material, certs[0], cas);
  }

  /** `"CN=localhost" (issued by "CN=Test CA", valid until 2026-12-06T19:17:20Z)` */
  describeCertificate(): string {
    const c = this.certificate;
    return `"${nameOf(c.subject)}" (issued by "${nameOf(c.issuer)}", valid until ${isoDate(c.validTo)})`;
  }

  /** `"O=Test, CN=Test CA"`, or several; null without --tls-ca. */
  describeCas(): string | null {
    if (this.cas.length === 0) return null;
    return this.cas.map((c) => `"${nameOf(c.subject)}"`).join(', ');
  }

  /** What clients are asked for: the start line's and /healthz's words. */
  describeClients(): string {
    const cas = this.describeCas();
    return cas === null
      ? 'clients are not asked for a certificate (no --tls-ca)'
      : `clients must present a certificate issued by ${cas} (--tls-ca ${this.files.ca})`;
  }

  /** Seconds since the epoch at which the server's certificate expires. */
  get expires(): number {
    return Date.parse(this.certificate.validTo) / 1000;
  }

  /** Why the server's own certificate cannot be used now (expired, not yet valid), or null. */
  certificateProblem(now = Date.now()): string | null {
    const c = this.certificate;
    if (now > Date.parse(c.validTo)) return `the TLS certificate ${this.files.cert} expired at ${isoDate(c.validTo)}: clients refuse it`;
    if (now < Date.parse(c.validFrom))
      return `the TLS certificate ${this.files.cert} is not valid before ${isoDate(c.validFrom)}: clients refuse it`;
    return null;
  }
}

/** Whether a TLSSocket made over a plain socket names it as `_parent` (see the header). */
const parentKnown = ((): boolean => {
  try {
    const probe = new Socket();
    const wrapped = new tls.TLSSocket(probe, { isServer: true, secureContext: tls.createSecureContext() });
    const known = (wrapped as unknown as { _parent?: unknown })._parent === probe;
    wrapped.destroy();
    probe.destroy();
    return known;
  } catch {
    return false;
  }
})();

/** The error a handshake that took too long is ended with (so that it is told from a client that went away). */
class HandshakeTimedOut extends Error {
  readonly code = 'LOGSERVER_TLS_HANDSHAKE_TIMEOUT';
}
/** The error pending handshakes are ended with on stop (not counted). */
class Stopping extends Error {
  readonly code = 'LOGSERVER_TLS_STOPPING';
}

/** OpenSSL's errors when the first bytes are not a TLS record: a plain client. */
const NOT_TLS = new Set([
  'ERR_SSL_WRONG_VERSION_NUMBER',
  'ERR_SSL_HTTP_REQUEST',
  'ERR_SSL_HTTPS_PROXY_REQUEST',
  'ERR_SSL_UNKNOWN_PROTOCOL',
  'ERR_SSL_PACKET_LENGTH_TOO_LONG',
  'ERR_SSL_RECORD_LENGTH_MISMATCH',
]);
/** The alerts a client sends when it refuses the server's certificate. */
const SERVER_CERT_REFUSED = new Set([
  'ERR_SSL_TLSV1_ALERT_UNKNOWN_CA',
  'ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE',
  'ERR_SSL_SSLV3_ALERT_CERTIFICATE_UNKNOWN',
  'ERR_SSL_SSLV3_ALERT_CERTIFICATE_EXPIRED',
  'ERR_SSL_SSLV3_ALERT_UNSUPPORTED_CERTIFICATE',
  'ERR_SSL_SSLV3_ALERT_CERTIFICATE_REVOKED',
]);
/** Verification failures (a TLSSocket's authorizationError) that mean "not issued by a CA of --tls-ca". */
const UNTRUSTED = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'CERT_SIGNATURE_FAILURE',
  'CERT_UNTRUSTED',
]);

/** Why a handshake failed, as a refusal code and the words for the report. */
export function handshakeRefusal(
  err: NodeJS.ErrnoException,
  authorizationError: string | null | undefined,
  handshakeTimeout: number,
): [TlsHandshakeRefusalCode, string] {
  const code = err.code ?? '';
  if (authorizationError) {
    if (authorizationError === 'CERT_HAS_EXPIRED') return ['tls-expired-cert', 'its certificate has expired (CERT_HAS_EXPIRED)'];
    if (UNTRUSTED.has(authorizationError))
      return ['tls-untrusted-cert', `its certificate was not issued by a CA of --tls-ca (${authorizationError})`];
    return ['tls-bad-cert', `its certificate does not verify (${authorizationError})`];
  }
  if (code === 'LOGSERVER_TLS_HANDSHAKE_TIMEOUT' || code === 'ERR_TLS_HANDSHAKE_TIMEOUT')
    return ['tls-handshake-timeout', `the handshake did not complete within ${handshakeTimeout} ms (--tls-handshake-timeout)`];
  if (code === 'ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE') return ['tls-no-client-cert', 'it sent no certificate (--tls-ca asks for one)'];
  if (NOT_TLS.has(code)) return ['not-tls', `it does not speak TLS (${code}): a plain SocketHandler? see examples/tls_socket_handler.py`];
  if (SERVER_CERT_REFUSED.has(code)) return ['tls-server-cert-refused', `it refused the server's certificate (${code})`];
  if (code === 'ECONNRESET' || code === 'EPIPE') return ['tls-handshake-failed', 'it went away in the handshake'];
  return ['tls-handshake-failed', `the handshake failed (${code || err.message})`];
}

/** True for an error of the TLS layer (OpenSSL's), as opposed to the socket's (ECONNRESET ...). */
export const isTlsError = (err: NodeJS.ErrnoException): boolean => (err.code ?? '').startsWith('ERR_SSL_');

/** Who is at the other end of a connection, TLS or not; with a verified certificate, its subject. */
export function identify(socket: Socket, input: 'tcp' | 'http'): ClientIdentity {
  const address = clientAddress(socket.remoteAddress);
  const port = socket.remotePort ?? 0;
  if (!(socket instanceof tls.TLSSocket)) return { address, port, input, tls: false };
  if (!socket.authorized) return { address, port, input, tls: true };
  const x509 = socket.getPeerX509Certificate();
  const cn = socket.getPeerCertificate().subject?.CN as string | string[] | undefined;
  return {
    address,
    port,
    input,
    tls: true,
    cn: Array.isArray(cn) ? cn[0] : cn,
    subject: x509 === undefined ? undefined : nameOf(x509.subject),
  };
}

export interface TlsAcceptorOptions {
  readonly handshakeTimeout: number;
  /** The input whose connections these are: its counters (tlsHandshakes, tlsFailedBy) and the report's words. */
  readonly input: 'tcp' | 'http';
  readonly stats: InputStats;
  readonly reporter: Reporter;
  /** A connection whose handshake is done (and whose certificate verified, with --tls-ca). */
  readonly onSecure: (socket: tls.TLSSocket) => void;
}

/** Serves the TLS handshake of accepted plain sockets (see the file's header). */
export class TlsAcceptor {
  private readonly server: tls.Server;
  /** Handshakes under way: the accepted socket and its timer. */
  private readonly pendingSockets = new Map<Socket, NodeJS.Timeout>();
  /** "127.0.0.1:50000" of each accepted socket, for the report (the socket may be gone by the time it is made). */
  private readonly clients = new WeakMap<Socket, string>();

  constructor(
    context: TlsContext,
    private readonly o: TlsAcceptorOptions,
  ) {
    this.server = tls.createServer({
      ...context.material,
      requestCert: context.requestCert,
      rejectUnauthorized: true,
      // Node's own timeout is one of inactivity (each byte restarts it); the acceptor's timer below is not.
      handshakeTimeout: o.handshakeTimeout,
    });
    this.server.on('secureConnection', (socket: tls.TLSSocket) => {
      this.settle(this.rawOf(socket));
      o.stats.tlsHandshakes++;
      o.onSecure(socket);
    });
    this.server.on('tlsClientError', (err: NodeJS.ErrnoException, socket: tls.TLSSocket) => {
      const raw = this.rawOf(socket);
      this.settle(raw);
      socket.destroy();
      if (err instanceof Stopping) return;
      const [reason, detail] = handshakeRefusal(err, socket.authorizationError as unknown as string | null, o.handshakeTimeout);
      o.stats.tlsFailedBy[reason] = (o.stats.tlsFailedBy[reason] ?? 0) + 1;
      const client = (raw && this.clients.get(raw)) ?? `${socket.remoteAddress ?? 'a client'}:${socket.remotePort ?? '?'}`;
      o.reporter.warn(reason, `refused a TLS ${o.input === 'http' ? 'HTTP ' : ''}connection from ${client} (${reason}): ${detail}`);
    });
  }

  /** New connections use `context` (open ones keep the one they were made with). */
  setContext(context: TlsContext): void {
    this.server.setSecureContext({ ...context.material });
  }

  /** Handshakes under way. */
  get pending(): number {
    return this.pendingSockets.size;
  }

  /** Starts the handshake of an accepted socket; it ends in onSecure, or counted and closed. */
  accept(socket: Socket): void {
    const timer = parentKnown ? setTimeout(() => socket.destroy(new HandshakeTimedOut()), this.o.handshakeTimeout) : undefined;
    if (parentKnown) this.pendingSockets.set(socket, timer!);
    this.clients.set(socket, `${socket.remoteAddress}:${socket.remotePort}`);
    socket.once('close', () => {
      clearTimeout(timer);
      this.pendingSockets.delete(socket);
    });
    this.server.emit('connection', socket);
  }

  /**
   * On stop: lets the handshakes under way finish for up to `maxMs` (their connections are then served and
   * drained like the others), then ends the rest, not counted as refused.
   */
  async finishPending(maxMs: number): Promise<void> {
    const deadline = Date.now() + maxMs;
    while (this.pendingSockets.size > 0 && Date.now() < deadline) await sleep(10);
    for (const socket of this.pendingSockets.keys()) socket.destroy(new Stopping());
  }

  /** The accepted (plain) socket a TLS socket of this server wraps, where Node says it. */
  private rawOf(socket: tls.TLSSocket): Socket | undefined {
    const raw = (socket as unknown as { _parent?: unknown })._parent;
    return raw instanceof Socket ? raw : undefined;
  }

  /** The handshake of `raw` is over: its timer stops. */
  private settle(raw: Socket | undefined): void {
    if (raw === undefined) return;
    clearTimeout(this.pendingSockets.get(raw));
    this.pendingSockets.delete(raw);
  }
}
