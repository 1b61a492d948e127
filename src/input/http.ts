/**
 * The HTTP input, for HTTPHandler: a GET with the record in the query string, or a POST with it as an
 * `application/x-www-form-urlencoded` body, at one path, optionally behind Basic auth. Each request is one record:
 * form → line maker → the same sink as the other inputs, then `200` once its line is queued. When the sink is
 * full the answer waits for its 'drain' (HTTPHandler waits for the answer, so its program is held back, as a
 * paused TCP client is); nothing is dropped.
 *
 * A request that is not a record gets a 4xx with the reason as text, and is counted and reported like a
 * refused frame: 403 `not-allowed`, 404 `not-found`, 405 `bad-method`, 401 `unauthorized`, 415
 * `bad-content-type`, 413/431 `frame-too-large` (over --max-frame), 400 `bad-request` (not HTTP), 400 or 413
 * for what the line maker refuses (`bad-created`, `too-large`), and `truncated-frame` for a body cut short.
 *
 * With TLS (HTTPS, HTTPHandler's `secure=True`), a plain listener accepts, the connection limits are checked on
 * the plain socket, net/tls.ts serves the handshake (the same as TCP's), and the HTTP server is handed the
 * TLS socket: the HTTP server itself never listens then.
 */
import * as http from 'node:http';
import * as net from 'node:net';
import type { AddressInfo, Socket } from 'node:net';
import { timingSafeEqual } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { LineBuffer } from '../format/line-buffer';
import { formatAddress, listen, stopAccepting } from '../net/listen';
import { refuse, type OnReject } from './refuse';
import { ConnectionsPerClient, clientAddress, type Admit } from '../net/access';
import type { FormLineMaker } from '../decode/form-record';
import type { EntrySink } from '../sink/sink';
import type { Reporter } from '../core/report';
import { RefusedRecord, type RefusalCode } from '../core/refusals';
import { newInputStats } from '../core/stats';
import type { ClientField } from '../format/client-field';
import { TlsAcceptor, identify, isTlsError, type TlsContext } from '../net/tls';

export interface HttpInputOptions {
  makeLine: FormLineMaker;
  sink: EntrySink;
  /** The path records are taken at (--http-path). */
  path: string;
  /** "user:password" the Basic credentials must match (--http-auth), or undefined. */
  auth: string | undefined;
  /** Largest request line + headers, and largest body (--max-frame). */
  maxFrame: number;
  /** Connections served at once (--max-connections). */
  maxConnections: number;
  /** Connections served at once from one client address (--max-connections-per-client). */
  maxConnectionsPerClient: number;
  /** Milliseconds the request line and headers may take to arrive (--http-header-timeout). */
  headerTimeout: number;
  /** Milliseconds a whole request may take to arrive (--http-request-timeout). */
  requestTimeout: number;
  /** Milliseconds an idle keep-alive connection is kept (--http-idle-timeout). */
  idleTimeout: number;
  /** Counts a connection closed at once (past --max-connections-per-client). */
  onRefusedConnection: (reason: 'too-many-from-client') => void;
  reporter: Reporter;
  onReject: OnReject;
  admit: Admit;
  /** With --tls-cert: HTTPS only. Default: plain HTTP. */
  tls?: TlsContext | null;
  /** With TLS: --tls-handshake-timeout. Default 10000. */
  tlsHandshakeTimeout?: number;
  /** --client-field: who sent it, added to every line. Default: none. */
  clientField?: ClientField | null;
}

const FORM_TYPE = 'application/x-www-form-urlencoded';

export class HttpInput {
  readonly stats = newInputStats();
  private readonly lines = new LineBuffer();
  private readonly expectedAuth: Buffer | null;
  /** Answers waiting for the sink's 'drain'. */
  private held: (() => void)[] = [];
  private sinkFull = false;
  /** Requests not yet answered, and their sockets. */
  private readonly busy = new Set<http.ServerResponse>();
  private readonly busySockets = new WeakSet<Socket>();
  /** Connections refused for being too slow (their end is not reported again). */
  private readonly timedOut = new WeakSet<Socket>();
  private lastAccept = 0;
  /** What listens: the HTTP server, or with TLS a plain listener in front of it. */
  private readonly listener: net.Server;
  private readonly acceptor: TlsAcceptor | null;
  /** --client-field's bytes, by connection. */
  private readonly fragments = new WeakMap<Socket, Buffer>();

  private constructor(
    private readonly server: http.Server,
    private readonly o: HttpInputOptions,
  ) {
    this.acceptor =
      o.tls === null || o.tls === undefined
        ? null
        : new TlsAcceptor(o.tls, {
            handshakeTimeout: o.tlsHandshakeTimeout ?? 10_000,
            input: 'http',
            stats: this.stats,
            reporter: o.reporter,
            onSecure: (socket) => server.emit('connection', socket),
          });
    this.listener = this.acceptor === null ? server : net.createServer();
    this.expectedAuth = o.auth === undefined ? null : Buffer.from('Basic ' + Buffer.from(o.auth, 'utf8').toString('base64'));
    o.sink.on('drain', () => {
      this.sinkFull = false;
      for (const answer of this.held.splice(0)) answer();
    });
    const perClient = new ConnectionsPerClient(o.maxConnectionsPerClient);
    this.listener.on('connection', (socket: Socket) => {
      this.lastAccept = Date.now();
      const client = clientAddress(socket.remoteAddress);
      const onClosed = perClient.admit(client);
      if (onClosed === null) {
        o.onRefusedConnection('too-many-from-client');
        o.reporter.warn(
          'too-many-from-client',
          `refused an HTTP connection from ${socket.remoteAddress}:${socket.remotePort}: already ${o.maxConnectionsPerClient} open from ${client} (--max-connections-per-client)`,
        );
        socket.destroy();
        return;
      }
      socket.once('close', onClosed);
      this.stats.connectionsTotal++;
      this.acceptor?.accept(socket);
    });
    server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => this.handle(req, res));
    server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => this.clientError(err, socket));
  }

  static async listen(host: string, port: number, o: HttpInputOptions): Promise<HttpInput> {
    // A GET carries the whole record in its URL: the header limit is the frame limit (Node's default is 16 KiB).
    // Slow clients (a request line and some headers, then nothing) must not hold the slots: the headers and the
    // whole request have time limits, checked every second, and an idle keep-alive connection is closed soon
    // (HTTPHandler opens a connection per record, so closing one loses nothing).
    const server = http.createServer({
      maxHeaderSize: Math.max(16 * 1024, o.maxFrame),
      headersTimeout: o.headerTimeout,
      requestTimeout: o.requestTimeout,
      keepAliveTimeout: o.idleTimeout,
      connectionsCheckingInterval: Math.min(1000, o.headerTimeout),
    });
    const input = new HttpInput(server, o);
    input.listener.maxConnections = o.maxConnections;
    await listen(input.listener, host, port);
    // With TLS the HTTP server does not listen itself, but it must track its connections as a listening one does
    // (the header and request timeouts, closing idle connections): Node starts that on 'listening'.
    if (input.listener !== server) server.emit('listening');
    return input;
  }

  get address(): AddressInfo {
    return this.listener.address() as AddressInfo;
  }

  /** "http://127.0.0.1:9022/log", or https:// with TLS. */
  get url(): string {
    return `${this.acceptor === null ? 'http' : 'https'}://${formatAddress(this.address)}${this.o.path}`;
  }

  /** With TLS: new connections use `context` (SIGHUP read the files again). */
  setTls(context: TlsContext): void {
    this.acceptor?.setContext(context);
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    this.stats.received++;
    this.busy.add(res);
    this.busySockets.add(req.socket);
    res.on('close', () => {
      this.busy.delete(res);
      this.busySockets.delete(req.socket);
    });
    const client = `${req.socket.remoteAddress}:${req.socket.remotePort}`;
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q < 0 ? url : url.slice(0, q);
    const what = `${req.method} ${path.length > 200 ? path.slice(0, 200) + '…' : path}`;
    if (!this.o.admit(req.socket.remoteAddress)) return this.refuse(res, client, 403, 'not-allowed', `${what}: not in --allow`);
    if (path !== this.o.path) return this.refuse(res, client, 404, 'not-found', `${what}: records are taken at ${this.o.path} only`);
    if (req.method !== 'GET' && req.method !== 'POST') {
      res.setHeader('Allow', 'GET, POST');
      return this.refuse(res, client, 405, 'bad-method', `${what}: only GET and POST are taken`);
    }
    if (this.expectedAuth !== null && !this.authorized(req.headers.authorization)) {
      res.setHeader('WWW-Authenticate', 'Basic realm="log-server", charset="UTF-8"');
      const why = req.headers.authorization === undefined ? 'no credentials' : 'wrong credentials';
      return this.refuse(res, client, 401, 'unauthorized', `${what}: ${why} (--http-auth is set)`);
    }
    if (req.method === 'GET') {
      const query = q < 0 ? '' : url.slice(q + 1);
      this.stats.bytesIn += query.length;
      if (query.length > this.o.maxFrame)
        return this.refuse(
          res,
          client,
          413,
          'frame-too-large',
          `${what}: a query of ${query.length} bytes is over the ${this.o.maxFrame}-byte limit`,
        );
      return this.take(res, client, query);
    }
    const type = (req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
    if (type !== FORM_TYPE)
      return this.refuse(res, client, 415, 'bad-content-type', `${what}: the body must be ${FORM_TYPE}, not ${type || 'untyped'}`);
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > this.o.maxFrame)
      return this.refuse(
        res,
        client,
        413,
        'frame-too-large',
        `${what}: a body of ${declared} bytes is over the ${this.o.maxFrame}-byte limit`,
      );
    const chunks: Buffer[] = [];
    let size = 0;
    let over = false;
    req.on('data', (chunk: Buffer) => {
      if (over) return;
      size += chunk.length;
      this.stats.bytesIn += chunk.length;
      if (size > this.o.maxFrame) {
        over = true;
        chunks.length = 0;
        this.refuse(res, client, 413, 'frame-too-large', `${what}: the body passes the ${this.o.maxFrame}-byte limit`);
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => {
      if (!over) this.take(res, client, Buffer.concat(chunks, size).toString('utf8'));
    });
    req.on('close', () => {
      if (req.complete || over || res.writableEnded) return;
      const body = Buffer.concat(chunks);
      refuse(this.stats, this.o.reporter, this.o.onReject, 'a request', {
        client,
        input: 'http',
        reason: 'truncated-frame',
        detail: `${what}: the client went away after ${body.length} bytes of its body`,
        length: declared > 0 ? declared : undefined,
        frame: body.toString('base64'),
      });
    });
  }

  /** The form is a record: its line goes to the sink, and the answer waits if the sink is full. */
  private take(res: http.ServerResponse, client: string, form: string): void {
    try {
      const start = this.lines.length;
      this.o.makeLine(form, this.lines);
      const field = this.o.clientField;
      if (field) field.add(this.lines, start, this.fragmentOf(res.req.socket, field));
    } catch (err) {
      if (!(err instanceof RefusedRecord)) throw err;
      const status = err.code === 'too-large' ? 413 : 400;
      return this.refuse(res, client, status, err.code, err.message, Buffer.from(form, 'utf8').toString('base64'));
    }
    const answer = () => void res.writeHead(200, { 'Content-Type': 'text/plain' }).end('ok\n');
    if (this.o.sink.write(this.lines.take(), 1) && !this.sinkFull) return answer();
    this.sinkFull = true;
    this.held.push(answer);
  }

  /** --client-field's bytes for the requests of one connection, made once. */
  private fragmentOf(socket: Socket, field: ClientField): Buffer {
    let fragment = this.fragments.get(socket);
    if (fragment === undefined) this.fragments.set(socket, (fragment = field.fragment(identify(socket, 'http'))));
    return fragment;
  }

  private authorized(header: string | undefined): boolean {
    if (header === undefined || this.expectedAuth === null) return false;
    const got = Buffer.from(header);
    return got.length === this.expectedAuth.length && timingSafeEqual(got, this.expectedAuth);
  }

  private refuse(res: http.ServerResponse, client: string, status: number, reason: RefusalCode, detail: string, frame?: string): void {
    refuse(this.stats, this.o.reporter, this.o.onReject, 'a request', { client, input: 'http', reason, detail, frame });
    if (res.headersSent) return;
    // The body of a refused request may be left unread: close the connection rather than read it.
    if (!res.req.complete) res.setHeader('Connection', 'close');
    res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8' }).end(`${reason}: ${detail}\n`);
  }

  /** Not HTTP, or headers over the limit: Node could not parse the request. */
  private clientError(err: NodeJS.ErrnoException, socket: Socket): void {
    if (this.timedOut.has(socket)) {
      socket.destroy();
      return;
    }
    if (err.code === 'HPE_INVALID_EOF_STATE') {
      // The client went away inside a request: within its body, the request's own 'close' reports it.
      if (!this.busySockets.has(socket)) {
        this.stats.received++;
        refuse(this.stats, this.o.reporter, this.o.onReject, 'a request', {
          client: `${socket.remoteAddress}:${socket.remotePort}`,
          input: 'http',
          reason: 'truncated-frame',
          detail: 'the client went away inside the request line or headers',
        });
      }
      socket.destroy();
      return;
    }
    if (isTlsError(err)) {
      // The TLS stream broke after the handshake: nothing more can be read or answered on it.
      refuse(this.stats, this.o.reporter, this.o.onReject, 'a connection', {
        client: `${socket.remoteAddress}:${socket.remotePort}`,
        input: 'http',
        reason: 'tls-bad-record',
        detail: `the TLS stream broke after the handshake (${err.code}); closing the connection`,
      });
      socket.destroy();
      return;
    }
    if (err.code === 'ECONNRESET' || !socket.writable) {
      socket.destroy();
      return;
    }
    const tooLarge = err.code === 'HPE_HEADER_OVERFLOW';
    const slow = err.code === 'ERR_HTTP_REQUEST_TIMEOUT';
    if (slow) this.timedOut.add(socket);
    const [status, text, reason]: [number, string, RefusalCode] = tooLarge
      ? [431, 'Request Header Fields Too Large', 'frame-too-large']
      : slow
        ? [408, 'Request Timeout', 'slow-request']
        : [400, 'Bad Request', 'bad-request'];
    const detail = tooLarge
      ? `the request line and headers pass the ${this.o.maxFrame}-byte limit`
      : slow
        ? `the request did not arrive in time (--http-header-timeout ${this.o.headerTimeout} ms, --http-request-timeout ${this.o.requestTimeout} ms)`
        : `not an HTTP request (${err.code ?? err.message})`;
    this.stats.received++;
    refuse(this.stats, this.o.reporter, this.o.onReject, 'a request', {
      client: `${socket.remoteAddress}:${socket.remotePort}`,
      input: 'http',
      reason,
      detail,
    });
    socket.end(`HTTP/1.1 ${status} ${text}\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n${reason}: ${detail}\n`);
  }

  /**
   * Stops: accepts what the kernel had queued, stops accepting, lets the requests under way finish (their lines
   * queued, their answers sent) for up to `timeoutMs`, then closes every connection.
   */
  async close(timeoutMs: number): Promise<void> {
    await stopAccepting(this.listener, () => this.lastAccept);
    await this.acceptor?.finishPending(Math.min(timeoutMs, 1000));
    this.server.closeIdleConnections();
    const deadline = Date.now() + timeoutMs;
    while (this.busy.size > 0 && Date.now() < deadline) await sleep(10);
    this.server.closeAllConnections();
    // (With TLS: stops its connection checks; it never listened, which close() says to its callback.)
    if (this.listener !== this.server) this.server.close(() => {});
  }
}
