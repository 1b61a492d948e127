/**
 * `--config FILE`: the options as a JSON object whose keys are the long flags (`{"port": 9021, "max-size":
 * "100M", "utc": true}`). Read once at start; flags and LOG_SERVER_* variables win over it (the command line's
 * precedence: flags, then the environment, then the file, then the defaults). The values go through the same
 * checks as flags do; here the file's shape is checked: that it parses, holds an object, names only options, and
 * gives booleans as booleans and lists as strings or arrays of strings. Errors name the file and the key.
 */
import { readFileSync } from 'node:fs';
import { describeFsError, OptionError } from '../core/errors';
import { OPTION_SPECS, type OptionSpec } from './spec';

const SPECS = OPTION_SPECS as readonly OptionSpec[];

/** The options a config file gives, keyed by long flag, or an OptionError saying what is wrong with it. */
export function readConfigFile(path: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    const reason = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : describeFsError(err);
    throw new OptionError(`cannot read config file ${path}: ${reason}`, { cause: err });
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new OptionError(`config file ${path} is not JSON: ${(err as Error).message}`, { cause: err });
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new OptionError(`config file ${path} must hold one JSON object of options, e.g. {"port": 9021}`);
  }
  const byFlag = new Map(SPECS.map((s) => [s.flag, s]));
  const options: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(parsed)) {
    const spec = byFlag.get(key);
    if (spec === undefined) {
      const hint = SPECS.find((s) => s.key === key);
      throw new OptionError(
        `config file ${path}: ${JSON.stringify(key)} is not an option${hint ? ` (write it as the long flag: "${hint.flag}")` : ''}`,
      );
    }
    const wrong = (what: string) => new OptionError(`config file ${path}: "${key}" must be ${what}, not ${JSON.stringify(value)}`);
    if (spec.kind === 'boolean') {
      if (typeof value !== 'boolean') throw wrong('true or false');
    } else if (spec.kind === 'list') {
      if (!(typeof value === 'string' || (Array.isArray(value) && value.every((v) => typeof v === 'string')))) {
        throw wrong('a string or an array of strings');
      }
    } else if (!(typeof value === 'string' || typeof value === 'number')) {
      throw wrong('a string or a number');
    }
    options[key] = value;
  }
  return options;
}
