/**
 * The general decoder: pickleparser, fed a normalized pickle (see normalize.ts) and given constructors for the
 * Python names that records carry, so that every value comes out as one of the kinds in values.ts.
 * Nothing a pickle names is ever looked up or run: every name maps to a constructor of plain data.
 */
import { NameRegistry, Parser } from 'pickleparser';
import { MARKER_MODULE, normalizePickle } from './normalize';
import { PyFloat, PyInt, PyObject } from '../format/values';
import { RefusedRecord } from '../core/refusals';

type Ctor = (...args: any[]) => unknown;
interface ClassCtor extends Ctor {
  pyClassName: string;
}

/** Python 2 module names that protocols 0–2 write, as Python 3's unpickler maps them (Lib/_compat_pickle.py). */
const MODULE_RENAMES: Record<string, string> = { __builtin__: 'builtins', exceptions: 'builtins', copy_reg: 'copyreg' };

function latin1Bytes(text: string): Uint8Array {
  return Buffer.from(text, 'latin1');
}

function toBytes(value: unknown, encoding?: unknown): Uint8Array {
  if (value === undefined) return new Uint8Array(0);
  if (value instanceof Uint8Array) return value;
  if (typeof value === 'string') {
    const enc = typeof encoding === 'string' ? encoding.toLowerCase().replace(/[-_]/g, '') : 'latin1';
    return enc === 'utf8' ? Buffer.from(value, 'utf8') : latin1Bytes(value);
  }
  if (Array.isArray(value)) return Uint8Array.from(value as number[]);
  return new Uint8Array(0);
}

const className = (cls: unknown): string =>
  typeof cls === 'function' && typeof (cls as ClassCtor).pyClassName === 'string' ? (cls as ClassCtor).pyClassName : 'builtins.object';

const dictOf = (items: unknown): Map<unknown, unknown> => {
  const map = new Map<unknown, unknown>();
  if (items instanceof Map) for (const [k, v] of items) map.set(k, v);
  else if (Array.isArray(items)) for (const pair of items) if (Array.isArray(pair) && pair.length === 2) map.set(pair[0], pair[1]);
  return map;
};

/** Constructors for the names that mean something; `function` (not arrows) so pickleparser can `new` them. */
const SPECIAL: Record<string, Ctor> = {
  [`${MARKER_MODULE}.int`]: function (digits: string) {
    // Ints a JS number holds exactly are numbers, as in the fast decoders (so equal dict keys stay equal).
    const n = BigInt(digits);
    return n >= -9007199254740991n && n <= 9007199254740991n ? Number(n) : new PyInt(n);
  },
  [`${MARKER_MODULE}.float`]: function (b: Uint8Array) {
    return new PyFloat(new DataView(b.buffer, b.byteOffset, 8).getFloat64(0, false));
  },
  '_codecs.encode': function (text: unknown, encoding: unknown) {
    return toBytes(text, encoding);
  },
  'builtins.bytes': function (value: unknown, encoding: unknown) {
    return toBytes(value, encoding);
  },
  'builtins.bytearray': function (value: unknown, encoding: unknown) {
    return toBytes(value, encoding);
  },
  'builtins.set': function (items: unknown) {
    return Array.isArray(items) ? [...items] : [];
  },
  'builtins.frozenset': function (items: unknown) {
    return Array.isArray(items) ? [...items] : [];
  },
  'collections.OrderedDict': function (items: unknown) {
    return dictOf(items);
  },
  'collections.defaultdict': function () {
    return new Map();
  },
  'collections.Counter': function (items: unknown) {
    return dictOf(items);
  },
  'copyreg._reconstructor': function (cls: unknown, _base: unknown, state: unknown) {
    return new PyObject(className(cls), state === null || state === undefined ? [] : [state]);
  },
  'copyreg.__newobj__': function (cls: unknown, ...args: unknown[]) {
    return new PyObject(className(cls), args);
  },
  'copyreg.__newobj_ex__': function (cls: unknown, args: unknown) {
    return new PyObject(className(cls), Array.isArray(args) ? args : []);
  },
};

for (const f of Object.values(SPECIAL)) Object.freeze(f);

/** Bounded: a stream of distinct class names must not grow memory without end. */
const classCache = new Map<string, ClassCtor>();
const CLASS_CACHE_MAX = 1000;

function classCtor(name: string): ClassCtor {
  let ctor = classCache.get(name);
  if (ctor === undefined) {
    ctor = function (...args: unknown[]) {
      return new PyObject(name, args);
    } as ClassCtor;
    ctor.pyClassName = name;
    // Frozen: BUILD on a class (Object.assign of a state onto it) must fail, not change it for later records.
    Object.freeze(ctor);
    if (classCache.size < CLASS_CACHE_MAX) classCache.set(name, ctor);
  }
  return ctor;
}

class Names extends NameRegistry {
  override resolve(module: string, name: string): Ctor {
    const fqn = `${MODULE_RENAMES[module] ?? module}.${name}`;
    return SPECIAL[fqn] ?? classCtor(fqn);
  }
}

/** pickleparser with dicts as Maps (any key type, no `__proto__` hazard) and sets as arrays. */
const parser = new Parser({ nameResolver: new Names(), unpicklingTypeOfDictionary: 'Map', unpicklingTypeOfSet: 'array' });

/** Decodes one pickle into the value kinds of values.ts; throws RefusedRecord('bad-pickle') when it cannot. */
export function decodePickle(payload: Uint8Array): unknown {
  const normalized = normalizePickle(payload);
  let value: unknown;
  try {
    value = parser.parse(normalized);
  } catch (err) {
    throw new RefusedRecord('bad-pickle', `cannot decode pickle: ${(err as Error).message}`);
  }
  if (holdsUndefined(value, new Set())) throw new RefusedRecord('bad-pickle', 'the pickle reads an empty stack or a missing memo entry');
  return value;
}

/** pickleparser pushes `undefined` where a pickle pops an empty stack or reads a memo slot never set. */
function holdsUndefined(root: unknown, seen: Set<object>): boolean {
  const todo: unknown[] = [root];
  while (todo.length > 0) {
    const v = todo.pop();
    if (v === undefined) return true;
    if (typeof v !== 'object' || v === null || seen.has(v) || v instanceof Uint8Array) continue;
    seen.add(v);
    if (Array.isArray(v)) for (const x of v) todo.push(x);
    else if (v instanceof Map) for (const [k, x] of v) todo.push(k, x);
    else if (v instanceof PyObject) todo.push(v.args, v.state, v.listItems, v.dictItems);
  }
  return false;
}
