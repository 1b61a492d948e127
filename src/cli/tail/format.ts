/**
 * One log line as a person reads it:
 *
 *   2026-11-25 11:41:24.573 INFO     app.db  Processing item 42  user_id=1234 operation=process_item
 *       Traceback (most recent call last):
 *         ...
 *
 * time (`created_human`), level (colored by severity), logger name, message, then the extras (the fields that
 * are not standard LogRecord attributes) as key=value, then `exc_text` and `stack_info` indented under it.
 * A line that is not a JSON object is returned as it is.
 */
import { makeHumanTime } from '../../format/time';

/** The attributes every LogRecord has (and the two the server adds): everything else is an extra. */
export const STANDARD_FIELDS = new Set([
  'name',
  'msg',
  'args',
  'levelname',
  'levelno',
  'pathname',
  'filename',
  'module',
  'exc_info',
  'exc_text',
  'stack_info',
  'lineno',
  'funcName',
  'created',
  'msecs',
  'relativeCreated',
  'thread',
  'threadName',
  'processName',
  'process',
  'taskName',
  'message',
  'created_human',
]);

export type Entry = Record<string, unknown>;

const RESET = '\x1b[0m';
const DIM = '\x1b[2m';
const CYAN = '\x1b[36m';
const LEVEL_COLORS: [number, string][] = [
  [50, '\x1b[1;37;41m'], // CRITICAL: bold white on red
  [40, '\x1b[1;31m'], // ERROR: bold red
  [30, '\x1b[33m'], // WARNING: yellow
  [20, '\x1b[32m'], // INFO: green
  [0, '\x1b[34m'], // DEBUG and below: blue
];

const LEVELS: Record<string, number> = { CRITICAL: 50, FATAL: 50, ERROR: 40, WARNING: 30, WARN: 30, INFO: 20, DEBUG: 10, NOTSET: 0 };

/** "WARNING", "warn", "30" → 30; null if neither a level name nor a number. */
export function levelNumber(value: string): number | null {
  const n = LEVELS[value.trim().toUpperCase()];
  if (n !== undefined) return n;
  return /^\d+$/.test(value.trim()) ? Number(value) : null;
}

/** The entry's level as a number: levelno, or its levelname's number; 0 if neither. */
export function levelOf(e: Entry): number {
  if (typeof e.levelno === 'number') return e.levelno;
  return typeof e.levelname === 'string' ? (LEVELS[e.levelname.toUpperCase()] ?? 0) : 0;
}

const localTime = makeHumanTime(false);

/** Parses a line into an entry, or null if it is not a JSON object. */
export function parseEntry(line: string): Entry | null {
  if (!line.startsWith('{')) return null;
  try {
    const v = JSON.parse(line) as unknown;
    return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Entry) : null;
  } catch {
    return null;
  }
}

function valueText(v: unknown): string {
  if (typeof v === 'string') return v !== '' && !/[\s"=\\]/.test(v) && !/[\x00-\x1f\x7f]/.test(v) ? v : JSON.stringify(v);
  return JSON.stringify(v) ?? String(v);
}

function indent(text: string): string {
  return text
    .replace(/\n+$/, '')
    .split('\n')
    .map((l) => '    ' + l)
    .join('\n');
}

/** The entry as text, with ANSI colors if `color`. */
export function formatEntry(e: Entry, color: boolean): string {
  const paint = (code: string, s: string) => (color ? code + s + RESET : s);
  const time = typeof e.created_human === 'string' ? e.created_human : typeof e.created === 'number' ? localTime(e.created) : '-';
  const levelName = typeof e.levelname === 'string' ? e.levelname : String(e.levelname ?? '-');
  const level = levelOf(e);
  const levelColor = LEVEL_COLORS.find(([min]) => level >= min)![1];
  const name = typeof e.name === 'string' ? e.name : String(e.name ?? '-');
  const message = typeof e.message === 'string' ? e.message : valueText(e.message ?? e.msg ?? '');
  let out = `${paint(DIM, time)} ${paint(levelColor, levelName.padEnd(8))} ${paint(CYAN, name)}  ${message.replace(/\n/g, '\n    ')}`;
  const extras: string[] = [];
  for (const [k, v] of Object.entries(e)) {
    if (!STANDARD_FIELDS.has(k)) extras.push(`${paint(DIM, k + '=')}${valueText(v)}`);
  }
  if (extras.length > 0) out += '  ' + extras.join(' ');
  for (const field of ['exc_text', 'stack_info'] as const) {
    const text = e[field];
    if (typeof text === 'string' && text !== '') out += '\n' + paint(level >= 40 ? '\x1b[31m' : DIM, indent(text));
  }
  return out;
}
