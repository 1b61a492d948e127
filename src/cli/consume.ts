/**
 * `log-server consume nats://HOST:PORT --target FILE`: the subcommand that reads a stream back into a JSON-lines
 * file (see consume.ts). Its options are given on the command line only (LOG_SERVER_* variables belong to the
 * server).
 */
import { streamReporter } from '../core/report';
import { startConsumer } from '../nats/consume';
import { ServerError } from '../core/errors';

export async function consumeMain(argv: string[]): Promise<number> {
  const { default: yargs } = await import('yargs');
  let failure: string | null = null;
  const parsed = await yargs(argv)
    .scriptName('log-server consume')
    .usage(
      '$0 nats://HOST:PORT[,nats://HOST2:PORT] --target FILE [options]\n\nAppends the records of a JetStream stream (as forwarded by log-server --forward) to a JSON-lines file, in stream order, each exactly once across crashes and restarts. The last written stream sequence is kept in FILE.seq.',
    )
    .options({
      target: { type: 'string', default: 'logs.txt', describe: 'file the lines are appended to (locked, as the server locks its own)' },
      stream: { type: 'string', default: 'LOGS', describe: 'the stream to read' },
      durable: {
        type: 'string',
        default: 'log-server-consume',
        describe: 'name of the durable pull consumer (one per target; it is re-positioned from FILE.seq at start)',
      },
      filter: { type: 'string', describe: "only these subjects, e.g. 'logs.app.>'" },
      batch: { type: 'number', default: 1000, describe: 'messages per fetch, fsync and acknowledgement' },
    })
    .strict()
    .version(false)
    .demandCommand(1, 1, 'give the NATS server URL(s), e.g. nats://127.0.0.1:4222', 'give one NATS URL list (comma-separated)')
    .help()
    .alias('h', 'help')
    .wrap(Math.min(110, process.stdout.columns || 110))
    .epilog('SIGINT/SIGTERM: finish the batch in hand and stop. SIGHUP: reopen the target by path (for logrotate).')
    .fail((msg, err) => {
      failure = msg ?? err?.message ?? 'invalid arguments';
    })
    .parseAsync();
  if (failure !== null) {
    process.stderr.write(`log-server consume: ${failure} (see log-server consume --help)\n`);
    return 2;
  }
  const servers = String(parsed._[0]);
  const bad = (why: string) => {
    process.stderr.write(`log-server consume: ${why} (see log-server consume --help)\n`);
    return 2;
  };
  if (!/^[^\s,]+(,[^\s,]+)*$/.test(servers)) return bad(`not a NATS URL list: ${JSON.stringify(servers)}`);
  if (parsed.target === '') return bad('target must be a file path');
  if (!/^[A-Za-z0-9_-]+$/.test(parsed.stream)) return bad(`stream must be a stream name, not ${JSON.stringify(parsed.stream)}`);
  if (!/^[A-Za-z0-9_-]+$/.test(parsed.durable))
    return bad(`durable must be a consumer name of letters, digits, _ and -, not ${JSON.stringify(parsed.durable)}`);
  if (!Number.isInteger(parsed.batch) || parsed.batch < 1 || parsed.batch > 100_000)
    return bad('batch must be an integer from 1 to 100000');

  const reporter = streamReporter(undefined, 'log-server consume');
  let running;
  try {
    running = await startConsumer({
      servers,
      target: parsed.target,
      stream: parsed.stream,
      durable: parsed.durable,
      filter: parsed.filter,
      batch: parsed.batch,
      reporter,
    });
  } catch (err) {
    if (err instanceof ServerError) {
      process.stderr.write(`log-server consume: ${err.message}\n`);
      return 1;
    }
    throw err;
  }
  const consumer = running;
  const onSignal = () => void consumer.close();
  const onHangup = () => consumer.reopen();
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  process.on('SIGHUP', onHangup);
  try {
    const summary = await consumer.closed;
    // The NATS client may keep timers (reconnects) alive after the close: exit anyway once the output is out.
    setTimeout(() => process.exit(summary.fatal ? 1 : 0), 500).unref();
    return summary.fatal ? 1 : 0;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    process.off('SIGHUP', onHangup);
  }
}
