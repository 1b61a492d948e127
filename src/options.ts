/**
 * Server options: defaults, validation, and the errors that stop a start with one clear line.
 */
import { availableParallelism } from 'node:os';
import type { Reporter } from './report';
import { parseAllowList } from './access';
import { parseInterval, parseSize, type RotationOptions } from './sink/rotate';
import { parseSubjectTemplate } from './sink/subject';

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
  /** Largest frame (pickle) accepted, in bytes; a longer length prefix closes the connection. Default 8 MiB. */
  maxFrame: number;
  /** Largest JSON line one record may become, in characters; past it the record is refused. Default 16 MiB. */
  maxEntry: number;
  /** Connections served at once; more are closed at once. Default 1024. */
  maxConnections: number;
  /** On stop, how long open connections may keep sending, in milliseconds. Default 10000. */
  drainTimeout: number;
  /** Bytes of finished lines held in memory while the disk is slow or failing; past it inputs pause. 64 MiB. */
  maxBuffer: number;
  /** File every refused frame is kept in (JSON lines with the raw frame in base64). Default: none. */
  rejects?: string;
  /** Also take DatagramHandler datagrams on UDP, at the same host and port as TCP. Default true. */
  udp: boolean;
  /** Receive buffer asked for the UDP socket, in bytes; the kernel caps it at net.core.rmem_max. Default 4 MiB. */
  udpBuffer: number;
  /** Port for HTTPHandler requests, at the same host; 0 picks a free one. Default: none (no HTTP input). */
  httpPort?: number;
  /** The one path HTTPHandler requests are taken at. Default "/log". */
  httpPath: string;
  /** "user:password" that HTTPHandler's `credentials` must match (Basic auth). Default: none asked. */
  httpAuth?: string;
  /** Port of the HTTP endpoint serving /metrics (Prometheus text) and /healthz, on `host`. Default: none. */
  metricsPort?: number;
  /** Networks (CIDR, IPv4 or IPv6; a bare address is one host) allowed to connect. Default: any. */
  allow?: string[];
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

export const FORWARD_DEFAULTS = { forwardStream: 'LOGS', forwardSubject: 'logs.{name}', forwardReplicas: 1, forwardMaxAge: 0, forwardMaxBytes: 0, forwardDuplicateWindow: 120 };

export const DEFAULTS: Omit<ServerOptions, 'reporter' | 'rejects' | 'httpPort' | 'httpAuth' | 'metricsPort' | 'allow' | 'maxSize' | 'rotate'> = {
  host: '127.0.0.1',
  port: 9020,
  target: 'logs.txt',
  multithreaded: false,
  workers: 0, // 0 = one per CPU, resolved in resolveOptions
  utc: false,
  maxFrame: 8 * 1024 * 1024,
  maxEntry: 16 * 1024 * 1024,
  maxConnections: 1024,
  drainTimeout: 10_000,
  // Bytes of lines the writer may hold: past it the inputs pause. 16 MiB is ~60 ms at full speed and keeps a
  // process under 150 MiB; more adds memory, not speed (docs/benchmarks.md).
  maxBuffer: 16 * 1024 * 1024,
  udp: true,
  udpBuffer: 4 * 1024 * 1024,
  httpPath: '/log',
  maxFiles: 5,
  compress: false,
};

/** A reason the server cannot start or keep running; the CLI prints `message` alone, without a stack. */
export class ServerError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ServerError';
  }
}

/** An option with a bad value: the command line's fault (the CLI exits 2, as for an unknown flag). */
export class OptionError extends ServerError {
  constructor(message: string) {
    super(message);
    this.name = 'OptionError';
  }
}

function check(ok: boolean, message: string): void {
  if (!ok) throw new OptionError(message);
}

const isInt = (n: unknown, min: number, max = Number.MAX_SAFE_INTEGER) =>
  typeof n === 'number' && Number.isInteger(n) && n >= min && n <= max;

/** Fills in defaults and checks every value; throws OptionError naming the bad option. */
export function resolveOptions(partial: Partial<ServerOptions>): ServerOptions {
  const given = Object.fromEntries(Object.entries(partial).filter(([, v]) => v !== undefined)) as Partial<ServerOptions>;
  const o: ServerOptions = { ...DEFAULTS, ...given };
  if (o.workers === 0) o.workers = availableParallelism();
  check(typeof o.host === 'string' && o.host.length > 0, 'host must be a non-empty address');
  check(isInt(o.port, 0, 65535), `port must be an integer from 0 to 65535, not ${String(o.port)}`);
  check(typeof o.target === 'string' && (o.target.length > 0 || o.forward !== undefined), 'target must be a file path (it may be empty only with --forward)');
  check(isInt(o.workers, 1, 256), `workers must be an integer from 1 to 256, not ${String(o.workers)}`);
  check(isInt(o.maxFrame, 64), `max-frame must be an integer of at least 64 bytes, not ${String(o.maxFrame)}`);
  check(isInt(o.maxEntry, 1024), `max-entry must be an integer of at least 1024, not ${String(o.maxEntry)}`);
  check(isInt(o.maxConnections, 1), `max-connections must be a positive integer, not ${String(o.maxConnections)}`);
  check(isInt(o.drainTimeout, 0), `drain-timeout must be a non-negative integer (ms), not ${String(o.drainTimeout)}`);
  check(isInt(o.maxBuffer, 1024 * 1024), `max-buffer must be an integer of at least 1 MiB, not ${String(o.maxBuffer)}`);
  check(o.rejects === undefined || (typeof o.rejects === 'string' && o.rejects.length > 0), 'rejects must be a file path');
  check(typeof o.udp === 'boolean', 'udp must be true or false');
  check(isInt(o.udpBuffer, 4096, 1024 * 1024 * 1024), `udp-buffer must be an integer from 4096 to 1 GiB, not ${String(o.udpBuffer)}`);
  check(o.httpPort === undefined || isInt(o.httpPort, 0, 65535), `http-port must be an integer from 0 to 65535, not ${String(o.httpPort)}`);
  check(o.httpPort === undefined || o.httpPort === 0 || o.httpPort !== o.port, `http-port must differ from port (${o.port} is the SocketHandler port)`);
  check(typeof o.httpPath === 'string' && /^\/[^?#\s]*$/.test(o.httpPath), `http-path must start with / and hold no ?, # or spaces, not ${JSON.stringify(o.httpPath)}`);
  check(o.httpAuth === undefined || (typeof o.httpAuth === 'string' && /^[^:]+:/.test(o.httpAuth)), 'http-auth must be user:password (a user without ":", then the password)');
  check(o.metricsPort === undefined || isInt(o.metricsPort, 0, 65535), `metrics-port must be an integer from 0 to 65535, not ${String(o.metricsPort)}`);
  if (o.allow !== undefined) o.allow = parseAllowList(o.allow);
  checkRotation(o);
  if (o.forward !== undefined) checkForward(o);
  return o;
}

/** The rotation options: sizes like "100M" become bytes. */
function checkRotation(o: ServerOptions): void {
  check(o.maxSize === undefined || typeof o.maxSize === 'string' || typeof o.maxSize === 'number', `max-size must be a size such as 512K, 100M or 1G, not ${String(o.maxSize)}`);
  check(o.rotate === undefined || typeof o.rotate === 'string', `rotate must be daily, hourly or an interval such as 30s or 5m, not ${String(o.rotate)}`);
  if (o.maxSize !== undefined) {
    const size = parseSize(o.maxSize);
    check(isInt(size, 1024), `max-size must be a size of at least 1K, such as 512K, 100M or 1G, not ${String(o.maxSize)}`);
    o.maxSize = size;
  }
  check(o.rotate === undefined || parseInterval(o.rotate) !== null, `rotate must be daily, hourly or an interval such as 30s or 5m, not ${String(o.rotate)}`);
  check(isInt(o.maxFiles, 1, 100_000), `max-files must be an integer from 1 to 100000, not ${String(o.maxFiles)}`);
  check(typeof o.compress === 'boolean', 'compress must be true or false');
  check(!o.compress || o.maxSize !== undefined || o.rotate !== undefined, 'compress needs max-size or rotate (it gzips the rotated files)');
  check(o.target !== '' || (o.maxSize === undefined && o.rotate === undefined), 'max-size and rotate need a target file (there is none with --no-target)');
}

/** What the file writer needs to rotate the target, or undefined without max-size and rotate. */
export function rotationOf(o: ServerOptions): RotationOptions | undefined {
  if (o.maxSize === undefined && o.rotate === undefined) return undefined;
  return {
    maxSize: o.maxSize === undefined ? undefined : parseSize(o.maxSize),
    interval: o.rotate === undefined ? undefined : (parseInterval(o.rotate) ?? undefined),
    maxFiles: o.maxFiles,
    compress: o.compress,
    utc: o.utc,
  };
}

function checkForward(o: ServerOptions): void {
  Object.assign(o, { ...FORWARD_DEFAULTS, ...Object.fromEntries(Object.entries(o).filter(([k, v]) => k.startsWith('forward') && v !== undefined)) });
  check(typeof o.forward === 'string' && /^[^\s,]+(,[^\s,]+)*$/.test(o.forward), `forward must be nats://host:port[,nats://host2:port,...], not ${JSON.stringify(o.forward)}`);
  check(typeof o.forwardStream === 'string' && /^[A-Za-z0-9_-]+$/.test(o.forwardStream), `forward-stream must be a stream name of letters, digits, _ and -, not ${JSON.stringify(o.forwardStream)}`);
  check(typeof o.forwardSubject === 'string' && o.forwardSubject.length > 0, 'forward-subject must be a subject template such as logs.{name}');
  try {
    parseSubjectTemplate(o.forwardSubject!);
  } catch (err) {
    throw new OptionError((err as Error).message);
  }
  check(isInt(o.forwardReplicas, 1, 5), `forward-replicas must be an integer from 1 to 5, not ${String(o.forwardReplicas)}`);
  check(isInt(o.forwardMaxAge, 0), `forward-max-age must be a non-negative integer (seconds), not ${String(o.forwardMaxAge)}`);
  check(isInt(o.forwardMaxBytes, 0), `forward-max-bytes must be a non-negative integer, not ${String(o.forwardMaxBytes)}`);
  check(isInt(o.forwardDuplicateWindow, 1), `forward-duplicate-window must be a positive integer (seconds), not ${String(o.forwardDuplicateWindow)}`);
  check(o.forwardMaxAge === 0 || o.forwardMaxAge! >= o.forwardDuplicateWindow!, 'forward-max-age must be at least forward-duplicate-window');
}
