/**
 * Logger names → NATS subjects, reversibly.
 *
 * A logger name's dots become subject token separators ("app.db" → "logs.app.db"), so that `logs.app.>` selects
 * a logger and its children as Python's logging hierarchy does. Inside a token every byte of the name's UTF-8 that
 * is not `[A-Za-z0-9_-]` is written `%XX` (two upper-case hex digits): NATS subjects may not hold spaces or control
 * characters, `*` and `>` are wildcards, `$` starts system subjects, and `%` itself must be escaped to stay
 * reversible. An empty token (an empty name, or "a..b", ".a", "a.") is written as a lone `%`, which no escaped
 * token can be.
 *
 *   "app.db"        → "app.db"
 *   "my app.*"      → "my%20app.%2A"
 *   "a..b"          → "a.%.b"
 *   "Ünïcode"       → "%C3%9Cn%C3%AFcode"
 */

const PLAIN = /^[A-Za-z0-9_-]+$/;

/** One name token (no dots) as a subject token. */
export function escapeToken(token: string): string {
  if (token === '') return '%';
  if (PLAIN.test(token)) return token;
  let out = '';
  for (const byte of Buffer.from(token, 'utf8')) {
    const c = String.fromCharCode(byte);
    out += byte < 0x80 && /[A-Za-z0-9_-]/.test(c) ? c : '%' + byte.toString(16).toUpperCase().padStart(2, '0');
  }
  return out;
}

/** A logger name as subject tokens joined by dots. */
export function nameToSubjectTokens(name: string): string {
  return name.split('.').map(escapeToken).join('.');
}

/** The inverse of nameToSubjectTokens. */
export function subjectTokensToName(tokens: string): string {
  return tokens
    .split('.')
    .map((t) =>
      t === '%'
        ? ''
        : Buffer.from(
            t.replace(/%([0-9A-F]{2})/g, (_, h: string) => String.fromCharCode(parseInt(h, 16))),
            'latin1',
          ).toString('utf8'),
    )
    .join('.');
}

/**
 * A subject template: literal tokens with an optional last token `{name}` (the escaped logger name, one or more
 * tokens). Returns the subject for a name, and the wildcard subject the stream must listen on.
 */
export interface SubjectTemplate {
  subjectFor(name: string): string;
  /** `logs.>` for `logs.{name}`; the template itself when it has no `{name}`. */
  readonly streamSubject: string;
}

/** Throws an Error naming what is wrong with the template. */
export function parseSubjectTemplate(template: string): SubjectTemplate {
  const tokens = template.split('.');
  const bad = (why: string) => new Error(`forward-subject ${JSON.stringify(template)} ${why}`);
  tokens.forEach((t, i) => {
    if (t === '') throw bad('has an empty token');
    if (t === '{name}') {
      if (i !== tokens.length - 1) throw bad('may only have {name} as its last token');
      return;
    }
    if (/[\s*>{}]/.test(t) || /[\x00-\x1f\x7f]/.test(t)) throw bad(`has a token ${JSON.stringify(t)} that is not a literal subject token`);
  });
  if (tokens[0].startsWith('$')) throw bad('starts with $ (system subjects)');
  const withName = tokens[tokens.length - 1] === '{name}';
  if (!withName) return { subjectFor: () => template, streamSubject: template };
  const prefix = tokens.slice(0, -1).join('.');
  const head = prefix === '' ? '' : prefix + '.';
  return { subjectFor: (name) => head + nameToSubjectTokens(name), streamSubject: head + '>' };
}

const NAME_KEY = Buffer.from(',"name":');

/**
 * The logger name of one finished line, by a scan instead of a JSON parse: the formatter writes `message`,
 * `levelname`, `created`, `created_human`, then the record's keys in the order SocketHandler pickled them, where
 * `name` comes first (it is LogRecord's first attribute). The bytes `,"name":` cannot occur inside a JSON string
 * (a quote there is always escaped), so the first match is the top-level key. A name that is not a string, or a
 * line without one, gives "".
 */
export function loggerNameOf(line: Buffer, start = 0, end = line.length): string {
  // Within the line only: a line without the key must not cost a scan of every line after it.
  const found = line.subarray(start, end).indexOf(NAME_KEY);
  if (found < 0) return '';
  const at = start + found;
  let i = at + NAME_KEY.length;
  if (line[i] !== 0x22) return '';
  const from = ++i;
  let escaped = false;
  for (; i < end; i++) {
    const b = line[i];
    if (b === 0x5c) {
      escaped = true;
      i++;
    } else if (b === 0x22) break;
  }
  if (i >= end) return '';
  if (!escaped) return line.toString('utf8', from, i);
  return JSON.parse(line.toString('utf8', from - 1, i + 1)) as string;
}
