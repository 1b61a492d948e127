#!/usr/bin/env node
/**
 * The `log-server` command. Every option can also be set as an environment variable LOG_SERVER_<OPTION>
 * (e.g. LOG_SERVER_PORT=9021, LOG_SERVER_MULTITHREADED=true).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DEFAULTS, OptionError, ServerError } from './options';
import { serveForever } from './server';
import { runTail } from './tail/cli';
import { FORWARD_OPTIONS, forwardOptionsOf } from './forward-cli';
import { consumeMain } from './consume-cli';

const MiB = 1024 * 1024;

async function main(argv: string[]): Promise<number> {
  if (argv[0] === 'tail') return runTail(argv.slice(1));
  if (argv[0] === 'consume') return consumeMain(argv.slice(1));
  const { default: yargs } = await import('yargs');
  const version = (JSON.parse(readFileSync(join(__dirname, '..', 'package.json'), 'utf8')) as { version: string }).version;
  let failure: string | null = null;
  const parsed = await yargs(argv)
    .scriptName('log-server')
    .usage(
      '$0 [options]\n$0 tail [FILE] [-n 20] [-f] ...             (see $0 tail --help)\n$0 consume nats://HOST:PORT --target FILE   (see $0 consume --help)\n\nReceives records from Python logging.handlers.SocketHandler clients and appends each one as a JSON line to the target file.',
    )
    .options({
      host: { type: 'string', default: DEFAULTS.host, describe: 'address to listen on' },
      port: { type: 'number', default: DEFAULTS.port, describe: 'TCP port (9020 is logging.handlers.DEFAULT_TCP_LOGGING_PORT; 0 picks one)' },
      target: { type: 'string', default: DEFAULTS.target, describe: 'file the JSON lines are appended to (--no-target: none, with --forward)' },
      multithreaded: { type: 'boolean', default: false, describe: 'decode in worker processes; the primary alone writes the file' },
      workers: { type: 'number', describe: 'worker processes with --multithreaded [default: number of CPUs]' },
      utc: { type: 'boolean', default: false, describe: 'write created_human in UTC instead of local time' },
      'max-frame': { type: 'number', default: DEFAULTS.maxFrame, describe: 'largest frame accepted, in bytes; a longer one closes its connection' },
      'max-entry': { type: 'number', default: DEFAULTS.maxEntry, describe: 'largest JSON line a record may become, in characters' },
      'max-connections': { type: 'number', default: DEFAULTS.maxConnections, describe: 'connections served at once' },
      'drain-timeout': { type: 'number', default: DEFAULTS.drainTimeout, describe: 'on stop, ms open connections may keep sending' },
      'max-buffer': { type: 'number', default: DEFAULTS.maxBuffer, describe: 'bytes of lines held while the disk is slow or failing; past it, clients are paused' },
      rejects: { type: 'string', describe: 'file to keep every refused frame in (JSON lines, raw frame in base64)' },
      udp: { type: 'boolean', default: DEFAULTS.udp, describe: 'also take DatagramHandler datagrams on UDP, same host and port (--no-udp: off)' },
      'udp-buffer': { type: 'number', default: DEFAULTS.udpBuffer, describe: 'UDP receive buffer asked of the kernel, in bytes (capped by net.core.rmem_max)' },
      'http-port': { type: 'number', describe: 'also take HTTPHandler requests on this port, same host (0 picks one) [default: off]' },
      'http-path': { type: 'string', default: DEFAULTS.httpPath, describe: 'the path HTTPHandler requests are taken at' },
      'http-auth': { type: 'string', describe: 'user:password the HTTPHandler credentials must match (Basic auth; prefer LOG_SERVER_HTTP_AUTH)' },
      'metrics-port': { type: 'number', describe: 'serve /metrics (Prometheus) and /healthz over HTTP on this port of --host [default: off]' },
      allow: { type: 'string', array: true, describe: 'accept connections only from this network (CIDR, IPv4 or IPv6; repeatable) [default: any]' },
      'max-size': { type: 'string', describe: 'rotate the target before it passes this size (512K, 100M, 1G or bytes): logs.txt.1, .2 …' },
      rotate: { type: 'string', describe: 'rotate the target daily or hourly: logs.txt.2026-11-25 …' },
      'max-files': { type: 'number', default: DEFAULTS.maxFiles, describe: 'rotated files kept; older ones are removed' },
      compress: { type: 'boolean', default: false, describe: 'gzip rotated files (in the background): logs.txt.1.gz …' },
      ...FORWARD_OPTIONS,
    })
    .env('LOG_SERVER')
    .strict()
    .version(version)
    .help()
    .alias('h', 'help')
    .alias('v', 'version')
    .wrap(Math.min(110, process.stdout.columns || 110))
    .epilog(`Every option can also be given as LOG_SERVER_<NAME>, e.g. LOG_SERVER_PORT=9021. SIGHUP reopens the target (for logrotate). To read the log: log-server tail --help. Sizes: ${DEFAULTS.maxFrame / MiB} MiB frame, ${DEFAULTS.maxEntry / MiB} MiB entry, ${DEFAULTS.maxBuffer / MiB} MiB buffer by default.`)
    .fail((msg, err) => {
      failure = msg ?? err?.message ?? 'invalid arguments';
    })
    .parseAsync();
  if (failure !== null) {
    process.stderr.write(`log-server: ${failure} (see log-server --help)\n`);
    return 2;
  }
  const summary = await serveForever(parsed.host, parsed.port, {
    target: targetOf(parsed.target as unknown), // --no-target: forwarding only
    multithreaded: parsed.multithreaded,
    workers: parsed.workers,
    utc: parsed.utc,
    maxFrame: parsed['max-frame'],
    maxEntry: parsed['max-entry'],
    maxConnections: parsed['max-connections'],
    drainTimeout: parsed['drain-timeout'],
    maxBuffer: parsed['max-buffer'],
    rejects: parsed.rejects,
    udp: parsed.udp,
    udpBuffer: parsed['udp-buffer'],
    httpPort: parsed['http-port'],
    httpPath: parsed['http-path'],
    httpAuth: parsed['http-auth'],
    metricsPort: parsed['metrics-port'],
    allow: parsed.allow,
    maxSize: parsed['max-size'],
    rotate: parsed.rotate,
    maxFiles: parsed['max-files'],
    compress: parsed.compress,
    ...forwardOptionsOf(parsed),
  });
  return summary.fatal || (summary.forward?.unacknowledged ?? 0) > 0 ? 1 : 0;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    if (err instanceof OptionError) {
      // A bad value, like a bad flag: exit 2.
      process.stderr.write(`log-server: ${err.message} (see log-server --help)\n`);
      process.exit(2);
    }
    if (err instanceof ServerError) process.stderr.write(`log-server: ${err.message}\n`);
    else process.stderr.write(`log-server: unexpected error: ${(err as Error)?.stack ?? String(err)}\n`);
    // Exit now: a failed start may leave handles (a half-started cluster) that would keep the process up.
    process.exit(1);
  },
);

/** --target FILE, or '' for --no-target; given more than once (e.g. a default in a script, then --no-target), the last wins. */
function targetOf(given: unknown): string {
  const last = Array.isArray(given) ? given[given.length - 1] : given;
  return last === false ? '' : String(last);
}
