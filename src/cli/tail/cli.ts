/**
 * `log-server tail [FILE]`: the last entries of a log file as a person reads them (src/cli/tail/format.ts), filtered,
 * optionally followed through rotations. FILE defaults to the server's target: LOG_SERVER_TARGET or logs.txt.
 */
import { createReadStream, promises as fsp } from 'node:fs';
import { createInterface } from 'node:readline';
import { createGunzip } from 'node:zlib';
import { DEFAULTS } from '../../config/options';
import { formatEntry, parseEntry } from './format';
import { makeFilter, UsageError, type Filter } from './filter';
import { Follower } from './follow';
import { eachLineBackward, endOfLastLine } from './read-back';
import { describeFsError } from '../../core/errors';

/** Reading backwards with --since stops at an entry created this long before it. */
const SINCE_SLACK_S = 300;

export interface TailOptions {
  file: string;
  /** Entries to show from the end; Infinity: all (the default with --since). */
  lines: number;
  follow: boolean;
  json: boolean;
  color: boolean;
  filter: Filter;
}

/** Colors: on a terminal, unless NO_COLOR is set (https://no-color.org); FORCE_COLOR=1 forces them. */
export function wantColor(env: NodeJS.ProcessEnv, isTTY: boolean): boolean {
  if (env.FORCE_COLOR !== undefined && env.FORCE_COLOR !== '' && env.FORCE_COLOR !== '0' && env.FORCE_COLOR !== 'false') return true;
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== '') return false;
  return isTTY;
}

/** Writes text to stdout, waiting when the pipe is full. */
function makeOutput(): (text: string) => Promise<void> {
  return (text) =>
    new Promise((resolve) => {
      if (process.stdout.write(text)) resolve();
      else process.stdout.once('drain', () => resolve());
    });
}

export async function runTail(argv: string[]): Promise<number> {
  const { default: yargs } = await import('yargs');
  let failure: string | null = null;
  const parsed = await yargs(argv)
    .scriptName('log-server tail')
    .command('$0 [file]', 'Print the last entries of a log-server file, readably', (y) =>
      y.positional('file', { type: 'string', describe: 'the log file [default: LOG_SERVER_TARGET, else logs.txt]' }),
    )
    .options({
      lines: { alias: 'n', type: 'string', describe: 'entries to show from the end [default: 20; all with --since]' },
      follow: { alias: 'f', type: 'boolean', default: false, describe: 'keep printing new entries, through rotations' },
      level: { type: 'string', describe: 'only this level and above (DEBUG, INFO, WARNING, ERROR, CRITICAL)' },
      name: { type: 'string', describe: "only loggers whose name matches this glob ('app.*')" },
      grep: { type: 'string', describe: 'only entries whose printed text contains TEXT' },
      since: { type: 'string', describe: 'only entries created since: 30s, 10m, 2h, 1d, or "2026-11-25 14:00"' },
      json: { type: 'boolean', default: false, describe: 'print the JSON lines as they are' },
    })
    .strict()
    .help()
    .alias('h', 'help')
    .version(false)
    .wrap(Math.min(110, process.stdout.columns || 110))
    .epilog('Colors on a terminal only; NO_COLOR=1 turns them off, FORCE_COLOR=1 on.')
    .fail((msg, err) => {
      failure = msg ?? err?.message ?? 'invalid arguments';
    })
    .parseAsync();
  if (failure !== null) return usage(failure);
  if (parsed.help) return 0;
  const given = Array.isArray(parsed.lines) ? parsed.lines[parsed.lines.length - 1] : parsed.lines;
  if (given !== undefined && !/^\s*\d+\s*$/.test(String(given)))
    return usage(`-n must be a whole number of entries, not ${JSON.stringify(given)}`);
  const n = given === undefined ? undefined : Number(given);
  let filter: Filter;
  try {
    filter = makeFilter({ level: parsed.level, name: parsed.name, grep: parsed.grep, since: parsed.since });
  } catch (err) {
    if (err instanceof UsageError) return usage(err.message);
    throw err;
  }
  return tail({
    file: (parsed.file as string | undefined) ?? (process.env.LOG_SERVER_TARGET || DEFAULTS.target),
    lines: n ?? (parsed.since !== undefined ? Infinity : 20),
    follow: parsed.follow,
    json: parsed.json,
    color: wantColor(process.env, process.stdout.isTTY === true),
    filter,
  });
}

function usage(message: string): number {
  process.stderr.write(`log-server tail: ${message} (see log-server tail --help)\n`);
  return 2;
}

export async function tail(o: TailOptions): Promise<number> {
  const out = makeOutput();
  // The reader went away (`| head`): done, quietly.
  process.stdout.on('error', (err: NodeJS.ErrnoException) => process.exit(err.code === 'EPIPE' ? 0 : 1));
  const render = (line: string): string | null => {
    if (line === '') return null;
    const entry = o.json && !o.filter.needsEntry && o.filter.matches(line, null) ? null : parseEntry(line);
    if (!o.filter.matches(line, entry)) return null;
    if (o.json || entry === null) return line;
    return formatEntry(entry, o.color);
  };

  if (o.file.endsWith('.gz')) return tailGzip(o, render, out);
  let fh: Awaited<ReturnType<typeof fsp.open>> | null = null;
  try {
    fh = await fsp.open(o.file, 'r');
  } catch (err) {
    if (!(o.follow && (err as NodeJS.ErrnoException).code === 'ENOENT')) {
      process.stderr.write(`log-server tail: cannot read ${o.file}: ${whyUnreadable(err)}\n`);
      return 1;
    }
  }
  let offset = 0;
  let ino = 0;
  if (fh !== null) {
    const st = await fh.stat();
    if (st.isDirectory()) {
      await fh.close();
      process.stderr.write(`log-server tail: cannot read ${o.file}: it is a directory (give a log file in it)\n`);
      return 1;
    }
    ino = st.ino;
    // Following: a last line still being written is printed once it is complete.
    const end = o.follow ? await endOfLastLine(fh, st.size) : st.size;
    offset = end;
    const shown: string[] = [];
    if (o.lines > 0) {
      await eachLineBackward(fh, end, (line) => {
        const text = render(line);
        if (text !== null) shown.push(text);
        if (o.filter.sinceSeconds !== null) {
          // The file is in arrival order: stop at the first entry well before --since (clients' clocks differ a little).
          const e = parseEntry(line);
          if (e !== null && typeof e.created === 'number' && e.created < o.filter.sinceSeconds - SINCE_SLACK_S) return false;
        }
        return shown.length < o.lines;
      });
    }
    for (let i = shown.length - 1; i >= 0; i--) await out(shown[i] + '\n');
    if (!o.follow) {
      await fh.close();
      return 0;
    }
  }
  const follower = new Follower(o.file, async (lines) => {
    let text = '';
    for (const line of lines) {
      const t = render(line);
      if (t !== null) text += t + '\n';
    }
    if (text !== '') await out(text);
  });
  follower.start(fh, ino, offset);
  await new Promise<void>((resolve) => {
    const stop = () => resolve();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  await follower.stop();
  return 0;
}

/** A rotated, gzipped file: read from the start (gzip cannot be read backwards), keeping the last entries. */
async function tailGzip(o: TailOptions, render: (line: string) => string | null, out: (text: string) => Promise<void>): Promise<number> {
  if (o.follow) return usage('--follow cannot follow a .gz file (it is a finished, rotated file)');
  const shown: string[] = [];
  try {
    const gunzip = createGunzip();
    createReadStream(o.file)
      .on('error', (err) => gunzip.destroy(err)) // a missing file fails the loop below, like a bad one
      .pipe(gunzip);
    const lines = createInterface({ input: gunzip, crlfDelay: Infinity });
    for await (const line of lines) {
      const text = render(line);
      if (text === null || o.lines === 0) continue;
      shown.push(text);
      if (shown.length > o.lines) shown.shift();
    }
  } catch (err) {
    process.stderr.write(`log-server tail: cannot read ${o.file}: ${whyUnreadable(err)}\n`);
    return 1;
  }
  for (const text of shown) await out(text + '\n');
  return 0;
}

function whyUnreadable(err: unknown): string {
  return (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : describeFsError(err);
}
