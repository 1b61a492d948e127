/**
 * Server options: defaults, validation, and the errors that stop a start with one clear line.
 */
import { availableParallelism } from 'node:os';
import type { Reporter } from './report';
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

export const DEFAULTS: Omit<ServerOptions, 'reporter' | 'rejects'> = {
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
  maxBuffer: 64 * 1024 * 1024,
};

/** A reason the server cannot start or keep running; the CLI prints `message` alone, without a stack. */
export class ServerError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ServerError';
  }
}

function check(ok: boolean, message: string): void {
  if (!ok) throw new ServerError(message);
}

const isInt = (n: unknown, min: number, max = Number.MAX_SAFE_INTEGER) =>
  typeof n === 'number' && Number.isInteger(n) && n >= min && n <= max;

/** Fills in defaults and checks every value; throws ServerError naming the bad option. */
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
  if (o.forward !== undefined) checkForward(o);
  return o;
}

function checkForward(o: ServerOptions): void {
  Object.assign(o, { ...FORWARD_DEFAULTS, ...Object.fromEntries(Object.entries(o).filter(([k, v]) => k.startsWith('forward') && v !== undefined)) });
  check(typeof o.forward === 'string' && /^[^\s,]+(,[^\s,]+)*$/.test(o.forward), `forward must be nats://host:port[,nats://host2:port,...], not ${JSON.stringify(o.forward)}`);
  check(typeof o.forwardStream === 'string' && /^[A-Za-z0-9_-]+$/.test(o.forwardStream), `forward-stream must be a stream name of letters, digits, _ and -, not ${JSON.stringify(o.forwardStream)}`);
  check(typeof o.forwardSubject === 'string' && o.forwardSubject.length > 0, 'forward-subject must be a subject template such as logs.{name}');
  try {
    parseSubjectTemplate(o.forwardSubject!);
  } catch (err) {
    throw new ServerError((err as Error).message);
  }
  check(isInt(o.forwardReplicas, 1, 5), `forward-replicas must be an integer from 1 to 5, not ${String(o.forwardReplicas)}`);
  check(isInt(o.forwardMaxAge, 0), `forward-max-age must be a non-negative integer (seconds), not ${String(o.forwardMaxAge)}`);
  check(isInt(o.forwardMaxBytes, 0), `forward-max-bytes must be a non-negative integer, not ${String(o.forwardMaxBytes)}`);
  check(isInt(o.forwardDuplicateWindow, 1), `forward-duplicate-window must be a positive integer (seconds), not ${String(o.forwardDuplicateWindow)}`);
  check(o.forwardMaxAge === 0 || o.forwardMaxAge! >= o.forwardDuplicateWindow!, 'forward-max-age must be at least forward-duplicate-window');
}
