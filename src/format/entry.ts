/**
 * The formatter: one decoded record dict in, one JSON line out.
 *
 * Keys come in this order: `message`, `levelname`, `created`, `created_human`, then every other key of the
 * record in the order received. `message` is the record's `msg` (SocketHandler has already merged the args
 * into it). A record that is not a dict, or whose `created` is not a finite number, is refused.
 */
import type { HumanTime } from './time';
import { DEFAULT_JSON_LIMITS, JsonWriter, PyFloat, PyInt, type JsonLimits } from './values';
import { RefusedRecord } from '../core/refusals';

/** Python's datetime covers years 1 to 9999 (here taken in UTC): a `created` outside them has no
 * created_human, and Python's own fromtimestamp raises on it. */
export const MIN_CREATED = -62135596800 - 1;
export const MAX_CREATED = 253402300800;

/** Keys the formatter writes itself; a received key of the same name is not written again. */
const OWN_KEYS = ['message', 'levelname', 'created', 'created_human'];

function createdSeconds(created: unknown): number {
  if (typeof created === 'number') return created;
  if (created instanceof PyFloat) return created.value;
  if (created instanceof PyInt) return Number(created.value);
  return NaN;
}

/** `message`: the record's `msg` unless the input knows better (HTTPHandler may send the merged message). */
export function formatEntry(
  record: unknown,
  humanTime: HumanTime,
  limits: JsonLimits = DEFAULT_JSON_LIMITS,
  givenMessage?: string,
): string {
  if (!(record instanceof Map)) throw new RefusedRecord('not-a-dict', 'the pickle does not hold a dict');
  const created = record.get('created');
  const seconds = createdSeconds(created);
  if (!(seconds > MIN_CREATED && seconds < MAX_CREATED)) {
    throw new RefusedRecord(
      'bad-created',
      record.has('created') ? '`created` is not a number within the years 1 to 9999' : 'no `created` field',
    );
  }
  const w = new JsonWriter(limits);
  w.path.add(record);
  const msg = record.get('msg');
  let message = '';
  if (givenMessage !== undefined) message = givenMessage;
  else if (typeof msg === 'string') message = msg;
  else if (record.has('msg')) {
    w.value(msg, 1);
    message = w.out;
    w.out = '';
  }
  w.out = '{"message":' + JSON.stringify(message) + ',"levelname":';
  w.value(record.has('levelname') ? record.get('levelname') : null, 1);
  w.out += ',"created":';
  w.value(created, 1);
  w.out += ',"created_human":"' + humanTime(seconds) + '"';
  w.members(record, 1, new Set(OWN_KEYS), true);
  w.out += '}\n';
  w.checkSize();
  return w.out;
}
