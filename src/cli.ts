#!/usr/bin/env node
/**
 * The `log-server` command: picks the subcommand and loads only its module (`tail` loads no server code), then
 * turns a failure into one line on stderr and the exit code: 2 for a bad option (as for a bad flag), 1 otherwise.
 */
import { OptionError, ServerError } from './core/errors';
import type * as Tail from './cli/tail/cli';
import type * as Consume from './cli/consume';
import type * as Serve from './cli/serve';

/** How the command's lines start: `log-server:`, or `log-server tail:` for that subcommand. */
const prefix = (argv: readonly string[]) => (argv[0] === 'tail' || argv[0] === 'consume' ? `log-server ${argv[0]}` : 'log-server');

async function main(argv: string[]): Promise<number> {
  // require, not import: each module is loaded only when its subcommand runs.
  if (argv[0] === 'tail') return (require('./cli/tail/cli') as typeof Tail).runTail(argv.slice(1));
  if (argv[0] === 'consume') return (require('./cli/consume') as typeof Consume).consumeMain(argv.slice(1));
  return (require('./cli/serve') as typeof Serve).serveMain(argv);
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    if (err instanceof OptionError) {
      process.stderr.write(`${prefix(process.argv.slice(2))}: ${err.message} (see log-server --help)\n`);
      process.exit(2);
    }
    if (err instanceof ServerError) {
      // A server that stopped on its own has said why in its own lines.
      if (!err.reported) process.stderr.write(`${prefix(process.argv.slice(2))}: ${err.message}\n`);
    } else process.stderr.write(`${prefix(process.argv.slice(2))}: unexpected error: ${(err as Error)?.stack ?? String(err)}\n`);
    // Exit now: a failed start may leave handles (a half-started cluster) that would keep the process up.
    process.exit(1);
  },
);
