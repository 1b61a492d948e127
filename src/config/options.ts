/**
 * Server options: the type a library user passes, the resolved form the server runs with, and resolveOptions(),
 * which fills in the defaults and checks every value from the one table of options (spec.ts).
 */
import { availableParallelism } from 'node:os';
import type { Reporter } from '../core/report';
import { OptionError } from '../core/errors';
import { BadValue, OPTION_SPECS, type OptionSpec } from './spec';

export interface ServerOptions {
  /** Address to listen on. Default 127.0.0.1 (loopback only). */
  host: string;
  /** TCP port. Default 9020, Python's logging.handlers.DEFAULT_TCP_LOGGING_PORT; 0 picks a free port. */
  port: number;
  /** File the JSON lines are appended to. Default "logs.txt". */
  target: string;
  /** Decode in `workers` forked processes; the primary alone writes the file. Default false. */
  multithreaded: boolean;
  /** Worker processes in multithreaded mode. Default: the number of CPUs. */
  workers: number;
  /** `created_human` in UTC instead of the server's local time zone. Default false. */
  utc: boolean;
  /** Largest frame (pickle) accepted, in bytes; a longer length prefix closes the connection. Default 1 MiB. */
  maxFrame: number;
  /** Largest JSON line one record may become, in characters; past it the record is refused. Default 8 MiB. */
  maxEntry: number;
  /** TCP connections served at once from one client address; more from it are closed at once. Default 256. */
  maxConnectionsPerClient: number;
  /** Connections served at once; more are closed at once. Default 1024. */
  maxConnections: number;
  /** On stop, how long open connections may keep sending, in milliseconds. Default 10000. */
  drainTimeout: number;
  /** Bytes of finished lines held in memory while the disk is slow or failing; past it inputs pause. 64 MiB. */
  maxBuffer: number;
  /** File every refused frame is kept in (JSON lines with the raw frame in base64). Default: none. */
  rejects?: string;
  /** Also take DatagramHandler datagrams on UDP, at the same host and port as TCP. Default: true, but false with
   * `tlsCert` (UDP has no TLS). */
  udp: boolean;
  /** Receive buffer asked for the UDP socket, in bytes; the kernel caps it at net.core.rmem_max. Default 4 MiB. */
  udpBuffer: number;
  /** Port for HTTPHandler requests, at the same host; 0 picks a free one. Default: none (no HTTP input). */
  httpPort?: number;
  /** The one path HTTPHandler requests are taken at. Default "/log". */
  httpPath: string;
  /** "user:password" that HTTPHandler's `credentials` must match (Basic auth). Default: none asked. */
  httpAuth?: string;
  /** Milliseconds an HTTP request line and headers may take to arrive. Default 10000. */
  httpHeaderTimeout: number;
  /** Milliseconds a whole HTTP request may take to arrive. Default 30000. */
  httpRequestTimeout: number;
  /** Milliseconds an idle keep-alive HTTP connection is kept. Default 5000. */
  httpIdleTimeout: number;
  /** Port of the HTTP endpoint serving /metrics (Prometheus text) and /healthz, on `host`. Default: none. */
  metricsPort?: number;
  /** Networks (CIDR, IPv4 or IPv6; a bare address is one host) allowed to connect. Default: any. */
  allow?: string[];
  /** Certificate file (PEM, with its chain after it): the TCP input speaks TLS only, the HTTP input HTTPS. Needs
   * `tlsKey`. Re-read by reloadTls() (SIGHUP). Default: none (plaintext). */
  tlsCert?: string;
  /** The certificate's private key file (PEM, not encrypted). */
  tlsKey?: string;
  /** CA certificates file (PEM): clients must present a certificate that verifies against it (mutual TLS). */
  tlsCa?: string;
  /** Milliseconds a TLS handshake may take, from the connection on. Default 10000. */
  tlsHandshakeTimeout: number;
  /** Adds a field of this name to every line, after the record's own, saying who sent it (README "TLS and client
   * identity"). Default: none. */
  clientField?: string;
  /** Rotate the target before it would pass this size: bytes, or a string like "100M", "1G", "512K". Default: never. */
  maxSize?: number | string;
  /** Rotate the target at the first write of each "daily" or "hourly" period (or a fixed interval like "30s"). */
  rotate?: string;
  /** Rotated files kept besides the target (with maxSize or rotate); older ones are removed. Default 5. */
  maxFiles: number;
  /** Gzip rotated files in the background. Default false. */
  compress: boolean;
  /** Where the server's own lines go. Default: stderr, rate-limited per kind. */
  reporter?: Reporter;
  /** Forward every record to NATS JetStream at these comma-separated URLs (see README "Scaling out"). With it,
   * `target` may be '' (no local file). Default: none. */
  forward?: string;
  /** JetStream stream forwarded to (created if missing). Default "LOGS". */
  forwardStream?: string;
  /** Subject template; `{name}` (last token) is the escaped logger name. Default "logs.{name}". */
  forwardSubject?: string;
  /** Replicas, and limits (0 = none), of the stream when it is created. Defaults 1, 0, 0. */
  forwardReplicas?: number;
  forwardMaxAge?: number;
  forwardMaxBytes?: number;
  /** JetStream's duplicate window (seconds) when the stream is created. Default 120. */
  forwardDuplicateWindow?: number;
}

/** The options as the server runs with them: every default filled in, sizes in bytes, lists normalised. */
export interface ResolvedOptions extends Omit<
  ServerOptions,
  'maxSize' | 'forwardStream' | 'forwardSubject' | 'forwardReplicas' | 'forwardMaxAge' | 'forwardMaxBytes' | 'forwardDuplicateWindow'
> {
  maxSize?: number;
  forwardStream: string;
  forwardSubject: string;
  forwardReplicas: number;
  forwardMaxAge: number;
  forwardMaxBytes: number;
  forwardDuplicateWindow: number;
}

type SpecKey = (typeof OPTION_SPECS)[number]['key'];
/** Every option but the reporter has its row in the table, and every row is an option (checked at compile time). */
const everyOptionHasASpec: [Exclude<keyof ServerOptions, SpecKey | 'reporter'>, Exclude<SpecKey, keyof ServerOptions>] extends [
  never,
  never,
]
  ? true
  : never = true;
void everyOptionHasASpec;

/** The fixed defaults, by option key (options without one, such as httpPort, are off unless given). */
export const DEFAULTS = Object.fromEntries(
  OPTION_SPECS.filter((s: OptionSpec) => s.default !== undefined).map((s: OptionSpec) => [s.key, s.default]),
) as Pick<ResolvedOptions, Extract<(typeof OPTION_SPECS)[number], { default: unknown }>['key']>;

/** Fills in defaults and checks every value; throws OptionError naming the bad option. */
export function resolveOptions(partial: Partial<ServerOptions>): ResolvedOptions {
  const given = Object.fromEntries(Object.entries(partial).filter(([, v]) => v !== undefined));
  const o: Record<string, unknown> = { ...DEFAULTS, ...given };
  // Not given: one worker per CPU.
  o.workers ??= availableParallelism();
  // UDP has no TLS: a TLS server takes datagrams only when asked to.
  o.udp ??= o.tlsCert === undefined;
  for (const spec of OPTION_SPECS as readonly OptionSpec[]) {
    if (o[spec.key] === undefined || spec.check === undefined) continue;
    try {
      o[spec.key] = spec.check(o[spec.key] as never, o);
    } catch (err) {
      if (err instanceof BadValue || err instanceof OptionError) throw new OptionError(err.message);
      throw err;
    }
  }
  return o as unknown as ResolvedOptions;
}
