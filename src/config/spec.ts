/**
 * Every option of the server, written once: its flag, kind, default, help text and check. The CLI's yargs
 * options, the defaults, the environment names (LOG_SERVER_<FLAG>), the library's resolveOptions() and the
 * README's option table all come from this table (test/options-spec.test.ts fails when the README disagrees).
 *
 * This module imports only the pure parsers beside it, so `log-server tail` can read a default without loading
 * the server.
 */
import { parseAllowList } from './allow';
import { parseInterval, parseSize } from './parse';
import { parseSubjectTemplate } from './subject';

/** How a value is given on the command line; what resolveOptions() makes of it. */
export type OptionKind = 'string' | 'integer' | 'boolean' | 'list';

export interface OptionSpec {
  /** The option's key in ServerOptions (camelCase). */
  readonly key: string;
  /** The long flag, without the dashes; the environment name is LOG_SERVER_ + this in upper case, - as _. */
  readonly flag: string;
  readonly kind: OptionKind;
  /** The default, where there is a fixed one. */
  readonly default?: string | number | boolean;
  /** The default as the help and the README say it, where there is no fixed value ("number of CPUs", "off"). */
  readonly defaultText?: string;
  readonly describe: string;
  /** README section the option belongs to. */
  readonly group: 'server' | 'inputs' | 'tls' | 'limits' | 'rotation' | 'forwarding';
  /**
   * Checks the value (already defaulted) against the rest of the options and returns it as resolved (e.g.
   * "100M" as bytes), or throws a message naming the option. Absent values (no default) are not checked.
   */
  readonly check?: (value: never, all: Record<string, unknown>) => unknown;
}

const MiB = 1024 * 1024;

/** Thrown by a check: the message the user sees, naming the option and what was given. */
export class BadValue extends Error {}

const fail = (message: string): never => {
  throw new BadValue(message);
};

const isInt = (n: unknown, min: number, max = Number.MAX_SAFE_INTEGER): n is number =>
  typeof n === 'number' && Number.isInteger(n) && n >= min && n <= max;

/** The value as given, for a message: what was typed, quoted unless it is a plain number ("abc", 0, -1). */
const given = (v: unknown): string => (typeof v === 'string' && !/^\s*-?\d+(\.\d+)?\s*$/.test(v) ? JSON.stringify(v) : String(v).trim());

/** An integer from min to max (a number, or a string of digits as the command line and environment give it). */
const integer =
  (flag: string, min: number, max: number | undefined, what: string) =>
  (v: unknown): number => {
    const n = typeof v === 'string' && /^\s*-?\d+\s*$/.test(v) ? Number(v) : v;
    return isInt(n, min, max) ? n : fail(`${flag} must be ${what}, not ${given(v)}`);
  };

const boolean = (flag: string) => (v: unknown) => (typeof v === 'boolean' ? v : fail(`${flag} must be true or false`));

const port = (flag: string) => integer(flag, 0, 65535, 'an integer from 0 to 65535');

export const OPTION_SPECS = [
  // The server
  {
    key: 'host',
    flag: 'host',
    kind: 'string',
    default: '127.0.0.1',
    group: 'server',
    describe: 'address to listen on',
    check: (v: unknown) => (typeof v === 'string' && v.length > 0 ? v : fail('host must be a non-empty address')),
  },
  {
    key: 'port',
    flag: 'port',
    kind: 'integer',
    default: 9020,
    group: 'server',
    describe: 'TCP port (9020 is logging.handlers.DEFAULT_TCP_LOGGING_PORT; 0 picks one)',
    check: port('port'),
  },
  {
    key: 'target',
    flag: 'target',
    kind: 'string',
    default: 'logs.txt',
    group: 'server',
    describe: 'file the JSON lines are appended to (--no-target: none, with --forward)',
    check: (v: unknown, o) =>
      typeof v === 'string' && (v.length > 0 || o.forward !== undefined)
        ? v
        : fail('target must be a file path (it may be empty only with --forward)'),
  },
  {
    key: 'multithreaded',
    flag: 'multithreaded',
    kind: 'boolean',
    default: false,
    group: 'server',
    describe: 'decode in worker processes; the primary alone writes the file',
    check: boolean('multithreaded'),
  },
  {
    key: 'workers',
    flag: 'workers',
    kind: 'integer',
    defaultText: 'number of CPUs',
    group: 'server',
    describe: 'worker processes with --multithreaded',
    check: integer('workers', 1, 256, 'an integer from 1 to 256'),
  },
  {
    key: 'utc',
    flag: 'utc',
    kind: 'boolean',
    default: false,
    group: 'server',
    describe: 'write created_human in UTC instead of local time',
    check: boolean('utc'),
  },
  {
    key: 'drainTimeout',
    flag: 'drain-timeout',
    kind: 'integer',
    default: 10_000,
    group: 'server',
    describe: 'on stop, ms open connections may keep sending',
    check: integer('drain-timeout', 0, undefined, 'a non-negative integer (ms)'),
  },
  {
    key: 'rejects',
    flag: 'rejects',
    kind: 'string',
    group: 'server',
    defaultText: 'none',
    describe: 'file to keep every refused frame in (JSON lines, raw frame in base64)',
    check: (v: unknown) => (typeof v === 'string' && v.length > 0 ? v : fail('rejects must be a file path')),
  },
  // Limits
  {
    key: 'maxFrame',
    flag: 'max-frame',
    kind: 'integer',
    // The longest real record measured is a traceback through Python's 1,000-frame recursion limit: 176 KB.
    // A 1 MiB frame of the costliest shape (90,000 keys) is about 70-90 ms of one core to write: other
    // connections wait that long in single-process mode. At 8 MiB the same took 0.8-2 s (scripts/bench-limits.ts).
    default: 1 * MiB,
    group: 'limits',
    describe: 'largest frame accepted, in bytes; a longer one closes its connection',
    check: integer('max-frame', 64, undefined, 'an integer of at least 64 bytes'),
  },
  {
    key: 'maxEntry',
    flag: 'max-entry',
    kind: 'integer',
    // 8x --max-frame: no record that fits a frame grows past it without repeating values through the pickle memo
    // (the most a byte becomes is 6 characters, a control character's \u0001); a bomb is refused at that size.
    default: 8 * MiB,
    group: 'limits',
    describe: 'largest JSON line a record may become, in characters',
    check: integer('max-entry', 1024, undefined, 'an integer of at least 1024'),
  },
  {
    key: 'maxConnections',
    flag: 'max-connections',
    kind: 'integer',
    default: 1024,
    group: 'limits',
    describe: 'connections served at once',
    check: integer('max-connections', 1, undefined, 'a positive integer'),
  },
  {
    key: 'maxConnectionsPerClient',
    flag: 'max-connections-per-client',
    kind: 'integer',
    // A quarter of the default --max-connections: one address (or one program opening connections in a loop)
    // cannot take every slot; behind a proxy or NAT, where many clients share one address, raise it.
    default: 256,
    group: 'limits',
    describe: 'connections served at once from one client address (TCP and HTTP each); more from it are closed at once',
    check: integer('max-connections-per-client', 1, undefined, 'a positive integer'),
  },
  {
    key: 'maxBuffer',
    flag: 'max-buffer',
    kind: 'integer',
    // 16 MiB is ~60 ms of input at full speed and keeps a process under 150 MiB; more adds memory, not speed
    // (docs/benchmarks.md).
    default: 16 * MiB,
    group: 'limits',
    describe: 'bytes of lines held while the disk is slow or failing; past it, clients are paused',
    check: integer('max-buffer', MiB, undefined, 'an integer of at least 1 MiB'),
  },
  // Inputs besides TCP, and access
  {
    key: 'udp',
    flag: 'udp',
    kind: 'boolean',
    // On, unless TLS is: UDP has no TLS, so a TLS server takes datagrams only when asked to (resolveOptions).
    defaultText: 'on (off with --tls-cert)',
    group: 'inputs',
    describe: 'also take DatagramHandler datagrams on UDP, same host and port (--no-udp: off; never encrypted)',
    check: boolean('udp'),
  },
  {
    key: 'udpBuffer',
    flag: 'udp-buffer',
    kind: 'integer',
    default: 4 * MiB,
    group: 'inputs',
    describe: 'UDP receive buffer asked of the kernel, in bytes (capped by net.core.rmem_max)',
    check: integer('udp-buffer', 4096, 1024 * MiB, 'an integer from 4096 to 1 GiB'),
  },
  {
    key: 'httpPort',
    flag: 'http-port',
    kind: 'integer',
    defaultText: 'off',
    group: 'inputs',
    describe: 'also take HTTPHandler requests on this port, same host (0 picks one)',
    check: (v: unknown, o) => {
      const p = port('http-port')(v);
      return p === 0 || p !== o.port ? p : fail(`http-port must differ from port (${String(o.port)} is the SocketHandler port)`);
    },
  },
  {
    key: 'httpPath',
    flag: 'http-path',
    kind: 'string',
    default: '/log',
    group: 'inputs',
    describe: 'the path HTTPHandler requests are taken at',
    check: (v: unknown) =>
      typeof v === 'string' && /^\/[^?#\s]*$/.test(v)
        ? v
        : fail(`http-path must start with / and hold no ?, # or spaces, not ${JSON.stringify(v)}`),
  },
  {
    key: 'httpAuth',
    flag: 'http-auth',
    kind: 'string',
    defaultText: 'none',
    group: 'inputs',
    describe: 'user:password the HTTPHandler credentials must match (Basic auth; prefer LOG_SERVER_HTTP_AUTH)',
    check: (v: unknown) =>
      typeof v === 'string' && /^[^:]+:/.test(v) ? v : fail('http-auth must be user:password (a user without ":", then the password)'),
  },
  {
    key: 'httpHeaderTimeout',
    flag: 'http-header-timeout',
    kind: 'integer',
    default: 10_000,
    group: 'inputs',
    describe: 'ms an HTTP request line and headers may take to arrive; a slower client gets 408 and is closed',
    check: integer('http-header-timeout', 100, undefined, 'an integer of at least 100 (ms)'),
  },
  {
    key: 'httpRequestTimeout',
    flag: 'http-request-timeout',
    kind: 'integer',
    default: 30_000,
    group: 'inputs',
    describe: 'ms a whole HTTP request (headers and body) may take to arrive',
    check: (v: unknown, o) => {
      const ms = integer('http-request-timeout', 100, undefined, 'an integer of at least 100 (ms)')(v);
      const header = Number(o.httpHeaderTimeout);
      return ms >= header ? ms : fail(`http-request-timeout must be at least http-header-timeout (${header} ms), not ${ms}`);
    },
  },
  {
    key: 'httpIdleTimeout',
    flag: 'http-idle-timeout',
    kind: 'integer',
    default: 5000,
    group: 'inputs',
    describe: 'ms an idle keep-alive HTTP connection is kept open',
    check: integer('http-idle-timeout', 100, undefined, 'an integer of at least 100 (ms)'),
  },
  {
    key: 'metricsPort',
    flag: 'metrics-port',
    kind: 'integer',
    defaultText: 'off',
    group: 'inputs',
    describe: 'serve /metrics (Prometheus) and /healthz over HTTP on this port of --host',
    check: port('metrics-port'),
  },
  {
    key: 'allow',
    flag: 'allow',
    kind: 'list',
    defaultText: 'any',
    group: 'inputs',
    describe: 'accept connections only from this network (CIDR, IPv4 or IPv6; repeatable)',
    check: (v: readonly string[] | string) => parseAllowList(v),
  },
  // TLS and who sent each record
  {
    key: 'tlsCert',
    flag: 'tls-cert',
    kind: 'string',
    defaultText: 'off',
    group: 'tls',
    describe: 'certificate (PEM, its chain after it): the TCP input speaks TLS only, and HTTP is HTTPS',
    check: (v: unknown, o) => {
      if (typeof v !== 'string' || v.length === 0) fail('tls-cert must be a file path');
      return o.tlsKey !== undefined ? v : fail(`tls-cert needs tls-key, the file of its private key (tls-cert is ${JSON.stringify(v)})`);
    },
  },
  {
    key: 'tlsKey',
    flag: 'tls-key',
    kind: 'string',
    defaultText: 'none',
    group: 'tls',
    describe: "the certificate's private key (PEM, not encrypted)",
    check: (v: unknown, o) => {
      if (typeof v !== 'string' || v.length === 0) fail('tls-key must be a file path');
      return o.tlsCert !== undefined
        ? v
        : fail(`tls-key needs tls-cert, the certificate it is the key of (tls-key is ${JSON.stringify(v)})`);
    },
  },
  {
    key: 'tlsCa',
    flag: 'tls-ca',
    kind: 'string',
    defaultText: 'none',
    group: 'tls',
    describe: 'CA certificates (PEM): clients must present a certificate they issued (mutual TLS); others are refused in the handshake',
    check: (v: unknown, o) => {
      if (typeof v !== 'string' || v.length === 0) fail('tls-ca must be a file path');
      return o.tlsCert !== undefined ? v : fail(`tls-ca needs tls-cert and tls-key: client certificates are asked for in a TLS handshake`);
    },
  },
  {
    key: 'tlsHandshakeTimeout',
    flag: 'tls-handshake-timeout',
    kind: 'integer',
    default: 10_000,
    group: 'tls',
    describe: 'ms a TLS handshake may take from the connection on; a slower client is closed',
    check: integer('tls-handshake-timeout', 100, undefined, 'an integer of at least 100 (ms)'),
  },
  {
    key: 'clientField',
    flag: 'client-field',
    kind: 'string',
    defaultText: 'off',
    group: 'tls',
    describe: "add this field to every line, after the record's own: who sent it (input, address, port, TLS, certificate subject)",
    check: (v: unknown) => {
      if (typeof v !== 'string' || v.length === 0) fail('client-field must be a field name such as client');
      return !['message', 'levelname', 'created', 'created_human'].includes(v as string)
        ? v
        : fail(`client-field cannot be ${JSON.stringify(v)}: the server writes that field itself`);
    },
  },
  // Rotation
  {
    key: 'maxSize',
    flag: 'max-size',
    kind: 'string',
    defaultText: 'never',
    group: 'rotation',
    describe: 'rotate the target before it passes this size (512K, 100M, 1G or bytes): logs.txt.1, .2 …',
    check: (v: unknown, o) => {
      const size = typeof v === 'string' || typeof v === 'number' ? parseSize(v) : NaN;
      if (!isInt(size, 1024)) fail(`max-size must be a size of at least 1K, such as 512K, 100M or 1G, not ${String(v)}`);
      return o.target !== '' ? size : fail('max-size and rotate need a target file (there is none with --no-target)');
    },
  },
  {
    key: 'rotate',
    flag: 'rotate',
    kind: 'string',
    defaultText: 'never',
    group: 'rotation',
    describe: 'rotate the target daily or hourly: logs.txt.2026-11-25 …',
    check: (v: unknown, o) => {
      if (typeof v !== 'string' || parseInterval(v) === null)
        fail(`rotate must be daily, hourly or an interval such as 30s or 5m, not ${String(v)}`);
      return o.target !== '' ? v : fail('max-size and rotate need a target file (there is none with --no-target)');
    },
  },
  {
    key: 'maxFiles',
    flag: 'max-files',
    kind: 'integer',
    default: 5,
    group: 'rotation',
    describe: 'rotated files kept; older ones are removed',
    check: integer('max-files', 1, 100_000, 'an integer from 1 to 100000'),
  },
  {
    key: 'compress',
    flag: 'compress',
    kind: 'boolean',
    default: false,
    group: 'rotation',
    describe: 'gzip rotated files (in the background): logs.txt.1.gz …',
    check: (v: unknown, o) => {
      boolean('compress')(v);
      return !v || o.maxSize !== undefined || o.rotate !== undefined
        ? v
        : fail('compress needs max-size or rotate (it gzips the rotated files)');
    },
  },
  // Forwarding to NATS JetStream
  {
    key: 'forward',
    flag: 'forward',
    kind: 'string',
    defaultText: 'off',
    group: 'forwarding',
    describe: 'also (or, with --target "", only) publish every record to NATS JetStream: nats://host1:4222,host2:4222',
    check: (v: unknown) =>
      typeof v === 'string' && /^[^\s,]+(,[^\s,]+)*$/.test(v)
        ? v
        : fail(`forward must be nats://host:port[,nats://host2:port,...], not ${JSON.stringify(v)}`),
  },
  {
    key: 'forwardStream',
    flag: 'forward-stream',
    kind: 'string',
    default: 'LOGS',
    group: 'forwarding',
    describe: 'JetStream stream (created if missing, used as it is if it exists)',
    check: (v: unknown) =>
      typeof v === 'string' && /^[A-Za-z0-9_-]+$/.test(v)
        ? v
        : fail(`forward-stream must be a stream name of letters, digits, _ and -, not ${JSON.stringify(v)}`),
  },
  {
    key: 'forwardSubject',
    flag: 'forward-subject',
    kind: 'string',
    default: 'logs.{name}',
    group: 'forwarding',
    describe: 'subject template; {name} is the logger name, its dots as subject tokens',
    check: (v: unknown) => {
      if (typeof v !== 'string' || v.length === 0) fail('forward-subject must be a subject template such as logs.{name}');
      try {
        parseSubjectTemplate(v as string);
      } catch (err) {
        fail((err as Error).message);
      }
      return v;
    },
  },
  {
    key: 'forwardReplicas',
    flag: 'forward-replicas',
    kind: 'integer',
    default: 1,
    group: 'forwarding',
    describe: 'replicas of the stream when it is created',
    check: integer('forward-replicas', 1, 5, 'an integer from 1 to 5'),
  },
  {
    key: 'forwardMaxAge',
    flag: 'forward-max-age',
    kind: 'integer',
    default: 0,
    group: 'forwarding',
    describe: 'stream limit when created: seconds a record is kept (0: forever)',
    check: (v: unknown, o) => {
      const age = integer('forward-max-age', 0, undefined, 'a non-negative integer (seconds)')(v);
      return age === 0 || age >= (o.forwardDuplicateWindow as number)
        ? age
        : fail('forward-max-age must be at least forward-duplicate-window');
    },
  },
  {
    key: 'forwardMaxBytes',
    flag: 'forward-max-bytes',
    kind: 'integer',
    default: 0,
    group: 'forwarding',
    describe: 'stream limit when created: bytes kept, oldest dropped first (0: no limit)',
    check: integer('forward-max-bytes', 0, undefined, 'a non-negative integer'),
  },
  {
    key: 'forwardDuplicateWindow',
    flag: 'forward-duplicate-window',
    kind: 'integer',
    default: 120,
    group: 'forwarding',
    describe: "stream's duplicate window when created, in seconds",
    check: integer('forward-duplicate-window', 1, undefined, 'a positive integer (seconds)'),
  },
] as const satisfies readonly OptionSpec[];

/** The environment variable of an option: LOG_SERVER_MAX_SIZE for max-size. */
export const envName = (flag: string): string => `LOG_SERVER_${flag.toUpperCase().replace(/-/g, '_')}`;

/** The default of an option as the help and README say it. */
export function defaultText(spec: OptionSpec): string {
  if (spec.defaultText !== undefined) return spec.defaultText;
  const d = spec.default;
  if (typeof d === 'number' && d >= MiB && d % MiB === 0) return `${d / MiB} MiB`;
  return String(d);
}
