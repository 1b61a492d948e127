/**
 * The `log-server` command. Every option can also be set as an environment variable LOG_SERVER_<OPTION>
 * (e.g. LOG_SERVER_PORT=9021, LOG_SERVER_MULTITHREADED=true).
 */
import { readFileSync } from 'node:fs';
import type { Options } from 'yargs';
import { join } from 'node:path';
import { DEFAULTS } from '../config/options';
import { OPTION_SPECS, type OptionSpec } from '../config/spec';
import { serveForever } from '../server/serve';

const MiB = 1024 * 1024;

/** `log-server [options]`: serves until SIGINT or SIGTERM; resolves with the exit code. */
export async function serveMain(argv: string[]): Promise<number> {
  const { default: yargs } = await import('yargs');
  const version = (JSON.parse(readFileSync(join(__dirname, '..', '..', 'package.json'), 'utf8')) as { version: string }).version;
  let failure: string | null = null;
  const parsed = await yargs(argv)
    .scriptName('log-server')
    .usage(
      '$0 [options]\n$0 tail [FILE] [-n 20] [-f] ...             (see $0 tail --help)\n$0 consume nats://HOST:PORT --target FILE   (see $0 consume --help)\n\nReceives records from Python logging.handlers.SocketHandler clients and appends each one as a JSON line to the target file.',
    )
    .options(yargsOptions())
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
  const options = Object.fromEntries((OPTION_SPECS as readonly OptionSpec[]).map((spec) => [spec.key, parsed[spec.flag]]));
  options.target = targetOf(parsed.target); // --no-target: forwarding only
  const summary = await serveForever(parsed.host as string, parsed.port as number, options);
  return summary.fatal || (summary.forward?.unacknowledged ?? 0) > 0 ? 1 : 0;
}

/** --target FILE, or '' for --no-target; given more than once (e.g. a default in a script, then --no-target), the last wins. */
function targetOf(given: unknown): string {
  const last = Array.isArray(given) ? given[given.length - 1] : given;
  return last === false ? '' : String(last);
}

/** The yargs options, one per row of the options table. */
function yargsOptions(): Record<string, Options> {
  return Object.fromEntries(
    (OPTION_SPECS as readonly OptionSpec[]).map((spec) => {
      const type = spec.kind === 'integer' ? 'number' : spec.kind === 'list' ? 'string' : spec.kind;
      const option: Options = { type, describe: spec.describe, array: spec.kind === 'list' || undefined };
      if (spec.defaultText !== undefined) option.defaultDescription = spec.defaultText;
      else option.default = spec.default;
      return [spec.flag, option];
    }),
  );
}
