"""Reference implementation of the log-server output rules (Python 3.11, stdlib only).

Two entry points produce a line:

* ``to_line(d, utc=True, tz=None)`` -- ``d`` is the record dict exactly as the
  server receives it (what SocketHandler pickles), given as ordinary Python
  objects.  Objects that have no rule of their own are described through
  ``obj.__reduce_ex__(2)``, as the contract says.
* ``line_from_pickle(data, utc=True, tz=None)`` -- ``data`` is the pickle
  (without the 4-byte length prefix).  It does NOT use ``pickle.loads``: it
  walks the opcodes (``pickletools.genops``) and builds neutral nodes the way
  a decoder without Python classes (e.g. the TypeScript server) has to, then
  applies the same rules.  ``make-fixtures.py`` checks that both paths give the
  same line for every fixture and every protocol.

Both raise ``Refused(reason)`` with reason one of ``not-a-dict``,
``bad-created``, ``bad-pickle``, ``too-deep``, ``cyclic``; and ``Unspecified``
for inputs the contract does not define (none of those are in the fixtures).

``prepare_record_dict(record)`` does what
``logging.handlers.SocketHandler.makePickle`` does to a record before pickling.

Resolutions of points the contract leaves open (see the docstrings of the
functions below and the report):
* Types are matched exactly (``type(v) is int``), never by isinstance: an
  IntEnum member or a str subclass is pickled as an object and converted by
  the "any other object" rule, as a decoder that only sees the pickle would.
* Depth: a container (list, tuple, dict kinds, set, frozenset, "other object")
  converted at depth n > 100 refuses the record.  The top-level dict has depth
  1, its values depth 2.  Dict keys are converted at the depth of the values
  next to them.  An "other object" counts as one level: each element of its
  ``args`` and its ``state`` are converted at depth n+1 (the args tuple itself
  is not a level; a dict state is a level of its own).
* The cycle check runs before the depth check, at each container, and looks
  only at the containers on the path from the top (the same container reached
  twice on different paths -- memo sharing -- is fine and written in full).
* Only converted values are checked: values of dropped keys (duplicates after
  key conversion, received ``message``/``created_human``/...) are never
  converted, so they can neither be too deep nor cyclic.
* Checks run in this order: bad-pickle (decoding), not-a-dict, bad-created,
  then conversion in output order (message from ``msg``, levelname, created,
  then the other keys in received order); the first failure wins.
"""

from __future__ import annotations

import collections
import copyreg
import datetime
import decimal
import json
import logging
import math
import pickle
import pickletools
import sys
import types
import uuid
from _compat_pickle import IMPORT_MAPPING, NAME_MAPPING

if hasattr(sys, "set_int_max_str_digits"):
    sys.set_int_max_str_digits(0)  # ints of any size must print in full

MAX_DEPTH = 100
RESERVED = ("message", "levelname", "created", "created_human")
REASONS = ("not-a-dict", "bad-created", "bad-pickle", "too-deep", "cyclic")


class Refused(Exception):
    """The payload must not be written; ``reason`` is one of REASONS."""

    def __init__(self, reason: str, detail: str = ""):
        assert reason in REASONS, reason
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


class Unspecified(Exception):
    """The contract has no rule for this input (never produced by fixtures)."""


# --------------------------------------------------------------------------
# neutral nodes (used by the pickle walker; to_line accepts them too)

class GlobalRef:
    """A GLOBAL / STACK_GLOBAL / INST / OBJ name, after Python 2 -> 3 mapping."""

    __slots__ = ("module", "name")

    def __init__(self, module: str, name: str):
        self.module, self.name = module, name

    @property
    def qual(self) -> str:
        return f"{self.module}.{self.name}"

    def __repr__(self):
        return f"GlobalRef({self.qual})"


class Opaque:
    """An object the rules only describe as {"__class__", "args", "state"}."""

    __slots__ = ("cls", "args", "state", "value", "__weakref__")

    def __init__(self, cls: str, args, state=None):
        self.cls, self.args, self.state = cls, list(args), state
        self.value = _NO_VALUE  # set when BUILD turns it into a known value (UUID)

    def __repr__(self):
        return f"Opaque({self.cls}, {self.args!r}, {self.state!r})"


class PDict:
    """A dict as pickled: (key, value) pairs in pickle order."""

    __slots__ = ("pairs", "__weakref__")

    def __init__(self, pairs=None):
        self.pairs = list(pairs or [])


class PSet:
    """A set/frozenset as pickled: items in pickle order."""

    __slots__ = ("items", "frozen", "__weakref__")

    def __init__(self, items=None, frozen=False):
        self.items, self.frozen = list(items or []), frozen


_NO_VALUE = object()
_DICT_TYPES = (dict, collections.OrderedDict, collections.defaultdict, collections.Counter)


# --------------------------------------------------------------------------
# scalar helpers

def _jstr(s: str) -> str:
    return json.dumps(s, ensure_ascii=False)


def _float_text(f: float) -> str:
    """Finite -> repr(f); otherwise the *string* NaN / Infinity / -Infinity."""
    if math.isnan(f):
        return "NaN"
    if math.isinf(f):
        return "Infinity" if f > 0 else "-Infinity"
    return repr(f)


def _bytes_text(b) -> str:
    return bytes(b).decode("utf-8", "backslashreplace")


def created_human(created, utc: bool = True, tz=None) -> str:
    """datetime.fromtimestamp(created, tz).strftime('%Y-%m-%d %H:%M:%S.%f')[:-3]."""
    if tz is None and utc:
        tz = datetime.timezone.utc
    try:
        dt = datetime.datetime.fromtimestamp(created, tz)
    except (OverflowError, ValueError, OSError) as e:
        raise Unspecified(f"created {created!r} outside datetime's range: {e}") from e
    return dt.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


# --------------------------------------------------------------------------
# conversion

def _pairs(d):
    if isinstance(d, PDict):
        return d.pairs
    return list(d.items())


def _tz_ok(tzinfo) -> bool:
    return tzinfo is None or type(tzinfo) is datetime.timezone


def _name_of(func) -> str:
    if isinstance(func, GlobalRef):
        return func.qual
    qual = getattr(func, "__qualname__", None) or func.__name__
    module = pickle.whichmodule(func, qual)
    return f"{module}.{qual}"


def _is_global_value(v) -> bool:
    """Things pickle writes as a bare GLOBAL (classes, functions, modules)."""
    return isinstance(v, (GlobalRef, type, types.FunctionType, types.BuiltinFunctionType,
                          types.MethodType, types.ModuleType))


def _object_parts(v):
    """(class name, args list, state) of an 'any other object' value."""
    if isinstance(v, Opaque):
        return v.cls, v.args, v.state
    if _is_global_value(v):
        raise Unspecified(f"bare global as a value: {v!r}")
    rv = v.__reduce_ex__(2)
    if isinstance(rv, str):
        raise Unspecified(f"object pickled as a bare global name: {v!r}")
    rv = tuple(rv) + (None,) * (6 - len(rv))
    func, args, state, listitems, dictitems, setter = rv[:6]
    if listitems is not None or dictitems is not None or setter is not None:
        raise Unspecified(f"reduce value with list/dict items or state setter: {v!r}")
    if func is copyreg.__newobj__:
        return _name_of(args[0]), list(args[1:]), state
    if func is copyreg.__newobj_ex__:
        cls, a, kw = args
        if kw:
            raise Unspecified(f"NEWOBJ_EX with keyword arguments: {v!r}")
        return _name_of(cls), list(a), state
    return _name_of(func), list(args), state


class _Conv:
    def __init__(self):
        self.path = {}  # id -> object, containers on the current path

    def enter(self, v, depth):
        if id(v) in self.path:
            raise Refused("cyclic", f"{type(v).__name__} contains itself")
        if depth > MAX_DEPTH:
            raise Refused("too-deep", f"container at depth {depth}")
        self.path[id(v)] = v

    def leave(self, v):
        del self.path[id(v)]

    # key conversion ------------------------------------------------------
    def key(self, k, depth) -> str:
        t = type(k)
        if t is str:
            return k
        if k is True:
            return "true"
        if k is False:
            return "false"
        if k is None:
            return "null"
        if t is int:
            return str(k)
        if t is float:
            return _float_text(k)
        if t is bytes or t is bytearray:
            return _bytes_text(k)
        return self.value(k, depth)  # compact JSON text of the converted value

    # value conversion -> JSON text ----------------------------------------
    def value(self, v, depth) -> str:
        t = type(v)
        if v is None:
            return "null"
        if v is True:
            return "true"
        if v is False:
            return "false"
        if t is int:
            return str(v)
        if t is float:
            return repr(v) if math.isfinite(v) else _jstr(_float_text(v))
        if t is str:
            return _jstr(v)
        if t is bytes or t is bytearray:
            return _jstr(_bytes_text(v))
        if t is datetime.datetime or t is datetime.time:
            if _tz_ok(v.tzinfo):
                return _jstr(v.isoformat())
            return self.obj(v, depth)
        if t is datetime.date:
            return _jstr(v.isoformat())
        if t is decimal.Decimal or t is uuid.UUID:
            return _jstr(str(v))
        if t is Opaque and v.value is not _NO_VALUE:
            return self.value(v.value, depth)
        if t is list or t is tuple:
            self.enter(v, depth)
            out = "[" + ",".join(self.value(x, depth + 1) for x in v) + "]"
            self.leave(v)
            return out
        if t is set or t is frozenset or t is PSet:
            self.enter(v, depth)
            items = v.items if t is PSet else v
            out = "[" + ",".join(self.value(x, depth + 1) for x in items) + "]"
            self.leave(v)
            return out
        if t in _DICT_TYPES or t is PDict:
            self.enter(v, depth)
            out = self.obj_text(self.members(_pairs(v), depth + 1))
            self.leave(v)
            return out
        return self.obj(v, depth)

    def members(self, pairs, depth, skip=()):
        """Convert (key, value) pairs: first key wins, skipped names dropped."""
        seen = set(skip)
        out = []
        for k, val in pairs:
            ks = self.key(k, depth)
            if ks in seen:
                continue
            seen.add(ks)
            out.append((ks, self.value(val, depth)))
        return out

    @staticmethod
    def obj_text(members) -> str:
        return "{" + ",".join(_jstr(k) + ":" + v for k, v in members) + "}"

    def obj(self, v, depth) -> str:
        cls, args, state = _object_parts(v)
        self.enter(v, depth)
        members = [("__class__", _jstr(cls)),
                   ("args", "[" + ",".join(self.value(a, depth + 1) for a in args) + "]")]
        if state is not None:
            members.append(("state", self.value(state, depth + 1)))
        self.leave(v)
        return self.obj_text(members)


def conv(v) -> str:
    """Compact JSON text of one value converted at depth 2 (a top-level value)."""
    return _Conv().value(v, 2)


def _is_top_dict(d) -> bool:
    # A plain dict; the dict kinds the rules write as plain objects are
    # accepted too (resolution of an open point; not in the fixtures).
    return type(d) in _DICT_TYPES or type(d) is PDict


def _lookup(pairs, name):
    for k, v in pairs:
        if type(k) is str and k == name:
            return True, v
    return False, None


def to_line(d, utc: bool = True, tz=None) -> str:
    """The exact JSON line (no trailing newline) for a received record dict.

    ``tz``: explicit tzinfo for created_human; otherwise UTC when ``utc`` is
    true, local time when it is false.
    """
    if not _is_top_dict(d):
        raise Refused("not-a-dict", type(d).__name__)
    pairs = _pairs(d)
    has_created, created = _lookup(pairs, "created")
    if not has_created:
        raise Refused("bad-created", "missing")
    if type(created) not in (int, float):
        raise Refused("bad-created", f"type {type(created).__name__}")
    if type(created) is float and not math.isfinite(created):
        raise Refused("bad-created", repr(created))

    c = _Conv()
    c.enter(d, 1)
    has_msg, msg = _lookup(pairs, "msg")
    if not has_msg:
        message = ""
    elif type(msg) is str:
        message = msg
    else:
        message = c.value(msg, 2)
    has_level, level = _lookup(pairs, "levelname")
    levelname = c.value(level, 2) if has_level else "null"
    members = [("message", _jstr(message)), ("levelname", levelname),
               ("created", c.value(created, 2)),
               ("created_human", _jstr(created_human(created, utc, tz)))]
    members += c.members(pairs, 2, skip=RESERVED)
    c.leave(d)
    return _Conv.obj_text(members)


# --------------------------------------------------------------------------
# SocketHandler.makePickle

def prepare_record_dict(record: logging.LogRecord, formatter: logging.Formatter | None = None) -> dict:
    """Exactly what SocketHandler.makePickle does before ``pickle.dumps(d, 1)``.

    ``formatter`` stands for the handler's formatter; SocketHandler has none by
    default, so Handler.format uses ``logging._defaultFormatter``.
    """
    ei = record.exc_info
    if ei:
        # just to get traceback text into record.exc_text ...
        (formatter or logging._defaultFormatter).format(record)
    d = dict(record.__dict__)
    d["msg"] = record.getMessage()
    d["args"] = None
    d["exc_info"] = None
    d.pop("message", None)
    return d


# --------------------------------------------------------------------------
# pickle walker: what a decoder without Python classes has to do

def _global(module: str, name: str, proto: int) -> GlobalRef:
    # Python's Unpickler maps Python 2 names when the stream's protocol < 3
    # (fix_imports=True): copy_reg -> copyreg, __builtin__ -> builtins,
    # exceptions -> builtins, __builtin__.unicode -> builtins.str, ...
    if proto < 3:
        if (module, name) in NAME_MAPPING:
            module, name = NAME_MAPPING[(module, name)]
        elif module in IMPORT_MAPPING:
            module = IMPORT_MAPPING[module]
    return GlobalRef(module, name)


def _tz_from(arg):
    """datetime tz argument -> real datetime.timezone, or None if not one."""
    return arg if type(arg) is datetime.timezone else None


def _timedelta_of(v):
    if isinstance(v, Opaque) and v.cls == "datetime.timedelta" and v.state is None:
        return datetime.timedelta(*v.args)
    raise Unspecified(f"timezone offset is not a timedelta: {v!r}")


def _call(func, args):
    """REDUCE / INST / OBJ: func(*args) for the names the rules know."""
    if not isinstance(func, GlobalRef):
        raise Refused("bad-pickle", f"REDUCE on a non-global {func!r}")
    if type(args) is not tuple:
        raise Refused("bad-pickle", "REDUCE arguments are not a tuple")
    q = func.qual
    try:
        if q == "_codecs.encode":
            # bytes in protocols 0-2: _codecs.encode(<latin-1 text>, 'latin1')
            if len(args) == 2 and type(args[0]) is str and args[1] in ("latin1", "latin-1"):
                return args[0].encode("latin-1")
            raise Unspecified(f"_codecs.encode{args!r}")
        if q == "builtins.bytes":
            if args == ():
                return b""  # empty bytes in protocols 0-2
            raise Unspecified(f"bytes{args!r}")
        if q == "builtins.bytearray":
            return bytearray(*args)  # (), (bytes,), or (str, 'latin-1')
        if q in ("builtins.set", "builtins.frozenset"):
            items = args[0] if args else []
            if type(items) is not list:
                raise Unspecified(f"{q} of {type(items).__name__}")
            return PSet(items, frozen=q.endswith("frozenset"))
        if q in ("collections.OrderedDict", "collections.defaultdict"):
            # items arrive through SETITEM(S) afterwards; the factory is ignored
            if q == "collections.OrderedDict" and args:
                raise Unspecified(f"OrderedDict{args!r}")
            return PDict()
        if q == "collections.Counter":
            if len(args) == 1 and type(args[0]) is PDict:
                return PDict(args[0].pairs)
            if args == ():
                return PDict()
            raise Unspecified(f"Counter{args!r}")
        if q in ("datetime.datetime", "datetime.time"):
            # (state bytes[, tzinfo]); state as bytes (3+) or via _codecs.encode (0-2)
            if len(args) == 2 and args[1] is not None and _tz_from(args[1]) is None:
                return Opaque(q, args)  # tzinfo without a rule: "other object"
            cls = datetime.datetime if q == "datetime.datetime" else datetime.time
            return cls(*args)
        if q == "datetime.date":
            return datetime.date(*args)
        if q == "datetime.timezone":
            return datetime.timezone(_timedelta_of(args[0]), *args[1:])
        if q == "decimal.Decimal":
            return decimal.Decimal(*args)
        if q == "uuid.UUID":
            return uuid.UUID(*args)
        if q == "copyreg._reconstructor":
            # protocols 0/1 for plain instances: (cls, base, base_state)
            cls, base, base_state = args
            if not isinstance(cls, GlobalRef) or not isinstance(base, GlobalRef):
                raise Refused("bad-pickle", "_reconstructor on non-globals")
            if base.qual == "builtins.object":
                return Opaque(cls.qual, [])
            return Opaque(cls.qual, [base_state])
        if q == "copyreg.__newobj__":
            return _new(args[0], args[1:])
    except (TypeError, ValueError, OverflowError, IndexError) as e:
        raise Refused("bad-pickle", f"{q}{args!r}: {e}") from e
    return Opaque(q, args)


def _new(cls, args):
    """NEWOBJ: cls.__new__(cls, *args)."""
    if not isinstance(cls, GlobalRef):
        raise Refused("bad-pickle", f"NEWOBJ on a non-global {cls!r}")
    if type(args) is not tuple:
        raise Refused("bad-pickle", "NEWOBJ arguments are not a tuple")
    return Opaque(cls.qual, args)


def _build(inst, state):
    """BUILD: inst.__setstate__(state) / inst.__dict__.update(state)."""
    if state is None:
        return
    if not isinstance(inst, Opaque):
        raise Unspecified(f"BUILD on {type(inst).__name__}")
    if inst.cls == "uuid.UUID" and not inst.args and isinstance(state, PDict):
        found, n = _lookup(state.pairs, "int")
        if found and type(n) is int:
            inst.value = uuid.UUID(int=n)
            return
    if inst.state is not None:
        raise Unspecified("second BUILD on one object")
    inst.state = state


def decode_pickle(data: bytes):
    """Decode a pickle into plain values and neutral nodes without importing.

    Raises Refused('bad-pickle') for anything Python's own unpickler could not
    load either (garbage, truncation, unknown opcode, empty input, stack or
    memo errors, unsupported protocol, out-of-band buffers, extension codes,
    persistent ids).
    """
    if not data:
        raise Refused("bad-pickle", "empty")
    stack: list = []
    marks: list = []
    memo: dict = {}
    proto = 0

    def pop():
        if not stack or (marks and len(stack) <= marks[-1]):
            raise Refused("bad-pickle", "stack underflow")
        return stack.pop()

    def pop_mark():
        if not marks:
            raise Refused("bad-pickle", "no MARK")
        m = marks.pop()
        items = stack[m:]
        del stack[m:]
        return items

    def top():
        if not stack or (marks and len(stack) <= marks[-1]):
            raise Refused("bad-pickle", "stack underflow")
        return stack[-1]

    try:
        ops = list(pickletools.genops(data))
    except Exception as e:  # unknown opcode, truncated argument, no STOP
        raise Refused("bad-pickle", str(e)) from e

    for op, arg, pos in ops:
        n = op.name
        if n == "PROTO":
            if not 0 <= arg <= pickle.HIGHEST_PROTOCOL:
                raise Refused("bad-pickle", f"unsupported protocol {arg}")
            proto = arg
        elif n == "FRAME":
            pass
        elif n == "STOP":
            result = pop()
            return result
        elif n == "MARK":
            marks.append(len(stack))
        elif n == "POP":
            if stack and marks and len(stack) == marks[-1]:
                marks.pop()  # POP of an empty MARK frame pops the mark (as CPython)
            else:
                pop()
        elif n == "POP_MARK":
            pop_mark()
        elif n == "DUP":
            stack.append(top())
        elif n in ("PUT", "BINPUT", "LONG_BINPUT"):
            if arg < 0:
                raise Refused("bad-pickle", "negative memo index")
            memo[arg] = top()
        elif n == "MEMOIZE":
            memo[len(memo)] = top()
        elif n in ("GET", "BINGET", "LONG_BINGET"):
            if arg not in memo:
                raise Refused("bad-pickle", f"memo {arg} not found")
            stack.append(memo[arg])
        elif n in ("INT", "BININT", "BININT1", "BININT2", "LONG", "LONG1", "LONG4"):
            stack.append(arg)  # INT 00/01 (protocols 0/1 bools) arrive as False/True
        elif n in ("FLOAT", "BINFLOAT"):
            stack.append(float(arg))
        elif n in ("NONE",):
            stack.append(None)
        elif n == "NEWTRUE":
            stack.append(True)
        elif n == "NEWFALSE":
            stack.append(False)
        elif n in ("UNICODE", "BINUNICODE", "SHORT_BINUNICODE", "BINUNICODE8"):
            stack.append(arg)
        elif n in ("BINBYTES", "SHORT_BINBYTES", "BINBYTES8"):
            stack.append(bytes(arg))
        elif n == "BYTEARRAY8":
            stack.append(bytearray(arg))
        elif n in ("STRING", "BINSTRING", "SHORT_BINSTRING"):
            # Python 2 str; Python's default Unpickler decodes it as ASCII
            raw = arg.encode("latin-1") if isinstance(arg, str) else bytes(arg)
            try:
                stack.append(raw.decode("ascii"))
            except UnicodeDecodeError as e:
                raise Refused("bad-pickle", "non-ASCII Python 2 str") from e
        elif n == "EMPTY_LIST":
            stack.append([])
        elif n == "LIST":
            stack.append(pop_mark())
        elif n == "APPEND":
            v = pop()
            lst = top()
            if type(lst) is not list:
                raise Unspecified(f"APPEND to {type(lst).__name__}")
            lst.append(v)
        elif n == "APPENDS":
            items = pop_mark()
            lst = top()
            if type(lst) is not list:
                raise Unspecified(f"APPENDS to {type(lst).__name__}")
            lst.extend(items)
        elif n == "EMPTY_TUPLE":
            stack.append(())
        elif n == "TUPLE":
            stack.append(tuple(pop_mark()))
        elif n in ("TUPLE1", "TUPLE2", "TUPLE3"):
            k = int(n[-1])
            items = [pop() for _ in range(k)][::-1]
            stack.append(tuple(items))
        elif n == "EMPTY_DICT":
            stack.append(PDict())
        elif n == "DICT":
            items = pop_mark()
            if len(items) % 2:
                raise Refused("bad-pickle", "odd DICT items")
            stack.append(PDict(zip(items[::2], items[1::2])))
        elif n in ("SETITEM", "SETITEMS"):
            if n == "SETITEM":
                v = pop()
                k = pop()
                items = [k, v]
            else:
                items = pop_mark()
                if len(items) % 2:
                    raise Refused("bad-pickle", "odd SETITEMS items")
            d = top()
            if type(d) is not PDict:
                raise Unspecified(f"{n} on {type(d).__name__}")
            for k, v in zip(items[::2], items[1::2]):
                _set_pair(d, k, v)
        elif n == "EMPTY_SET":
            stack.append(PSet())
        elif n == "ADDITEMS":
            items = pop_mark()
            s = top()
            if type(s) is not PSet or s.frozen:
                raise Unspecified(f"ADDITEMS on {type(s).__name__}")
            s.items.extend(items)
        elif n == "FROZENSET":
            stack.append(PSet(pop_mark(), frozen=True))
        elif n == "GLOBAL":
            module, name = arg.split(" ", 1)
            stack.append(_global(module, name, proto))
        elif n == "STACK_GLOBAL":
            name = pop()
            module = pop()
            if type(name) is not str or type(module) is not str:
                raise Refused("bad-pickle", "STACK_GLOBAL requires str")
            stack.append(_global(module, name, proto))
        elif n == "REDUCE":
            args = pop()
            func = pop()
            stack.append(_call(func, args))
        elif n == "NEWOBJ":
            args = pop()
            cls = pop()
            stack.append(_new(cls, args))
        elif n == "NEWOBJ_EX":
            kwargs = pop()
            args = pop()
            cls = pop()
            if not isinstance(kwargs, PDict):
                raise Refused("bad-pickle", "NEWOBJ_EX kwargs not a dict")
            if kwargs.pairs:
                raise Unspecified("NEWOBJ_EX with keyword arguments")
            stack.append(_new(cls, args))
        elif n == "INST":
            module, name = arg.split(" ", 1)
            stack.append(_call(_global(module, name, proto), tuple(pop_mark())))
        elif n == "OBJ":
            items = pop_mark()
            if not items:
                raise Refused("bad-pickle", "OBJ without class")
            stack.append(_call(items[0], tuple(items[1:])))
        elif n == "BUILD":
            state = pop()
            _build(top(), state)
        elif n in ("EXT1", "EXT2", "EXT4"):
            raise Refused("bad-pickle", "extension registry code")
        elif n in ("PERSID", "BINPERSID"):
            raise Refused("bad-pickle", "persistent id")
        elif n in ("NEXT_BUFFER", "READONLY_BUFFER"):
            raise Refused("bad-pickle", "out-of-band buffer")
        else:  # pragma: no cover - every opcode is listed above
            raise Refused("bad-pickle", f"unhandled opcode {n}")
    raise Refused("bad-pickle", "no STOP")  # genops already requires STOP


def _set_pair(d: PDict, k, v):
    # A pickle of a real dict never repeats a key; a hand-made one may.  Like
    # a Python dict, keep the first position and take the last value, for
    # keys that are the same str/int/None/bool/bytes (exact type and value).
    for i, (k0, _) in enumerate(d.pairs):
        if type(k0) is type(k) and type(k) in (str, int, bool, bytes, type(None)) and k0 == k:
            d.pairs[i] = (k0, v)
            return
    d.pairs.append((k, v))


def line_from_pickle(data: bytes, utc: bool = True, tz=None) -> str:
    """Decode ``data`` (pickle without length prefix) and return the line."""
    return to_line(decode_pickle(data), utc=utc, tz=tz)


__all__ = ["to_line", "line_from_pickle", "decode_pickle", "prepare_record_dict",
           "created_human", "conv", "Refused", "Unspecified", "MAX_DEPTH", "REASONS"]
