/**
 * The `log-server` command. Every option can also be set as an environment variable LOG_SERVER_<OPTION>
 * (e.g. LOG_SERVER_PORT=9021, LOG_SERVER_MULTITHREADED=true).
 */
import { readFileSync } from 'node:fs';
import type { Options } from 'yargs';
import { join } from 'node:path';
import { DEFAULTS } from '../config/options';
import { OPTION_SPECS, envName, type OptionSpec } from '../config/spec';
import { readConfigFile } from '../config/file';
import { serveForever } from '../server/serve';

const MiB = 1024 * 1024;

/** `log-server [options]`: serves until SIGINT or SIGTERM; resolves with the exit code. */
export async function serveMain(argv: string[]): Promise<number> {
  const unread = whatYargsPassesOver(argv, process.env);
  if (unread !== null) {
    process.stderr.write(`log-server: ${unread} (see log-server --help)\n`);
    return 2;
  }
  const { default: yargs } = await import('yargs');
  const version = (JSON.parse(readFileSync(join(__dirname, '..', '..', 'package.json'), 'utf8')) as { version: string }).version;
  let failure: string | null = null;
  const parsed = await yargs(argv)
    .scriptName('log-server')
    .usage(
      '$0 [options]\n$0 tail [FILE] [-n 20] [-f] ...             (see $0 tail --help)\n$0 consume nats://HOST:PORT --target FILE   (see $0 consume --help)\n\nReceives records from Python logging.handlers.SocketHandler clients and appends each one as a JSON line to the target file.',
    )
    .options(yargsOptions())
    .config(
      'config',
      'JSON file of options, keys as the long flags ({"port": 9021, "utc": true}); flags and LOG_SERVER_* win over it',
      readConfigFile,
    )
    .env('LOG_SERVER')
    .strict()
    .version(version)
    .help()
    .alias('h', 'help')
    .alias('v', 'version')
    .wrap(Math.min(110, process.stdout.columns || 110))
    .epilog(
      `Every option can also be given as LOG_SERVER_<NAME>, e.g. LOG_SERVER_PORT=9021. SIGHUP reopens the target (for logrotate). To read the log: log-server tail --help. Sizes: ${DEFAULTS.maxFrame / MiB} MiB frame, ${DEFAULTS.maxEntry / MiB} MiB entry, ${DEFAULTS.maxBuffer / MiB} MiB buffer by default.`,
    )
    .fail((msg, err) => {
      failure = msg ?? err?.message ?? 'invalid arguments';
    })
    .parseAsync();
  if (failure !== null) {
    process.stderr.write(`log-server: ${failure} (see log-server --help)\n`);
    return 2;
  }
  // A single-valued option given more than once: the last wins (as a flag after the ones a script gives).
  const options = Object.fromEntries(SPECS.map((spec) => [spec.key, spec.kind === 'list' ? parsed[spec.flag] : lastOf(parsed[spec.flag])]));
  if (options.target === false) options.target = ''; // --no-target: forwarding only
  const summary = await serveForever(options.host as string, options.port as number, options);
  return summary.fatal || (summary.forward?.unacknowledged ?? 0) > 0 ? 1 : 0;
}

const SPECS = OPTION_SPECS as readonly OptionSpec[];

const lastOf = (v: unknown): unknown => (Array.isArray(v) ? v[v.length - 1] : v);

/**
 * What yargs would take silently: a boolean option given a value that is not true or false
 * (`--multithreaded=maybe`, `LOG_SERVER_UTC=yes`: yargs reads both as false), or an option that takes a value
 * given none (a bare `--target`: yargs falls back to the default). Returns the message, or null.
 */
function whatYargsPassesOver(argv: readonly string[], env: NodeJS.ProcessEnv): string | null {
  const byFlag = new Map(SPECS.map((s) => [s.flag, s]));
  for (let i = 0; i < argv.length && argv[i] !== '--'; i++) {
    const m = /^--(no-)?([a-z][a-z0-9-]*)(?:=([\s\S]*))?$/.exec(argv[i]);
    const spec = m ? byFlag.get(m[2]) : undefined;
    if (!m || spec === undefined) continue;
    if (spec.kind === 'boolean') {
      if (m[3] !== undefined && !/^(true|false)$/i.test(m[3])) return `${spec.flag} must be true or false, not ${JSON.stringify(m[3])}`;
    } else if (m[1] === undefined && m[3] === undefined && (i + 1 === argv.length || /^--?[a-z]/i.test(argv[i + 1]))) {
      return `--${spec.flag} needs a value${spec.flag === 'target' ? ' (a file path; --no-target for none, with --forward)' : ''}`;
    }
  }
  for (const spec of SPECS) {
    const value = env[envName(spec.flag)];
    if (spec.kind === 'boolean' && value !== undefined && !/^(true|false)$/i.test(value)) {
      return `${envName(spec.flag)} must be true or false, not ${JSON.stringify(value)}`;
    }
  }
  return null;
}

/** The yargs options, one per row of the options table. */
function yargsOptions(): Record<string, Options> {
  return Object.fromEntries(
    SPECS.map((spec) => {
      // Integers as strings: the check says what was typed ("abc"), where yargs would make it NaN.
      const type = spec.kind === 'boolean' ? 'boolean' : 'string';
      const option: Options = { type, describe: spec.describe, array: spec.kind === 'list' || undefined };
      if (spec.defaultText !== undefined) option.defaultDescription = spec.defaultText;
      else option.default = spec.default;
      return [spec.flag, option];
    }),
  );
}
