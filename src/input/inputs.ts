/**
 * The inputs besides TCP: UDP for DatagramHandler and HTTP for HTTPHandler. The process that writes the file
 * runs them (the single process, or the primary in multithreaded mode), each with its own line maker, and
 * their lines go straight to the writer's sink. Workers serve TCP connections only.
 */
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:net';
import { DatagramInput } from './udp';
import { HttpInput } from './http';
import { admitAll, type Admit } from '../net/access';
import { listen } from '../net/listen';
import { makeLineMaker } from '../decode/record';
import { makeFormLineMaker } from '../decode/form-record';
import type { OnReject } from './refuse';
import type { EntrySink } from '../sink/sink';
import type { Reporter } from '../core/report';
import type { ResolvedOptions } from '../config/options';
import type { InputStats } from '../core/stats';
import type { ServerError } from '../core/errors';
import { ClientField } from '../format/client-field';
import type { TlsContext } from '../net/tls';

export interface OtherInputs {
  readonly udp: DatagramInput | null;
  readonly http: HttpInput | null;
  /** What they listen on, for the start ("udp 127.0.0.1:9020 (…), http://127.0.0.1:8080/log"); null if none. */
  describe(): string | null;
  /** Stops both: the UDP socket once quiet, the HTTP requests under way within `drainTimeout` ms. */
  stop(drainTimeout: number): Promise<void>;
  /** With TLS: new HTTPS connections use `context`. */
  setTls(context: TlsContext): void;
}

/**
 * Binds UDP at the TCP listener's address and port (unless `udp` is off) and HTTP at `httpPort` (if set), HTTPS
 * with `tls`. `admit` is asked about every datagram's and request's address.
 */
export async function startOtherInputs(
  o: ResolvedOptions,
  tcp: AddressInfo,
  sink: EntrySink,
  reporter: Reporter,
  onReject: OnReject,
  admit: Admit = admitAll,
  onRefusedConnection: (reason: 'too-many-from-client') => void = () => {},
  tls: TlsContext | null = null,
): Promise<OtherInputs> {
  let udp: DatagramInput | null = null;
  let http: HttpInput | null = null;
  const clientField = o.clientField === undefined ? null : new ClientField(o.clientField);
  if (o.udp) {
    udp = await DatagramInput.bind(tcp.address, tcp.port, tcp.family, {
      makeLine: makeLineMaker(o),
      sink,
      maxFrame: o.maxFrame,
      maxBuffer: o.maxBuffer,
      recvBuffer: o.udpBuffer,
      reporter,
      onReject,
      admit,
      clientField,
    });
  }
  if (o.httpPort !== undefined) {
    try {
      http = await HttpInput.listen(o.host, o.httpPort, {
        makeLine: makeFormLineMaker(o),
        sink,
        path: o.httpPath,
        auth: o.httpAuth,
        maxFrame: o.maxFrame,
        maxConnections: o.maxConnections,
        maxConnectionsPerClient: o.maxConnectionsPerClient,
        headerTimeout: o.httpHeaderTimeout,
        requestTimeout: o.httpRequestTimeout,
        idleTimeout: o.httpIdleTimeout,
        onRefusedConnection,
        reporter,
        onReject,
        admit,
        tls,
        tlsHandshakeTimeout: o.tlsHandshakeTimeout,
        clientField,
      });
    } catch (err) {
      await udp?.close(0, 0);
      throw err;
    }
  }
  return {
    udp,
    http,
    describe() {
      const parts: string[] = [];
      if (udp) parts.push(udp.describe());
      if (http) parts.push(`${http.url}${o.httpAuth !== undefined ? ' (Basic auth)' : ''}`);
      return parts.length > 0 ? parts.join(', ') : null;
    },
    async stop(drainTimeout) {
      await Promise.all([udp?.close(), http?.close(drainTimeout)]);
    },
    setTls: (context) => http?.setTls(context),
  };
}

/**
 * Listens on TCP, then starts the other inputs there. With `--port 0` the kernel picks a free TCP port, whose
 * number may be taken for UDP (or a fixed --http-port may be): then another port is tried (up to 5 times).
 */
export async function listenWithOtherInputs(
  server: Server,
  o: ResolvedOptions,
  start: (tcp: AddressInfo) => Promise<OtherInputs>,
): Promise<{ address: AddressInfo; others: OtherInputs }> {
  for (let attempt = 1; ; attempt++) {
    const address = await listen(server, o.host, o.port);
    try {
      return { address, others: await start(address) };
    } catch (err) {
      if (o.port !== 0 || attempt >= 5 || (err as ServerError).code !== 'LOGSERVER_ERR_ADDRESS_IN_USE') throw err;
      await new Promise((resolve) => server.close(resolve));
    }
  }
}

/** Makes the UDP and HTTP counters part of the server's (for /metrics, under the input names "udp", "http"). */
export function registerInputStats(into: Map<string, InputStats>, other: OtherInputs): void {
  if (other.udp) into.set('udp', other.udp.stats);
  if (other.http) into.set('http', other.http.stats);
}
