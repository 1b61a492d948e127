#!/usr/bin/env python3
"""Generate test/fixtures/decoder-cases.json and test/fixtures/refused-cases.json.

Usage: python3 scripts/make-fixtures.py      (from anywhere; Python 3.11 or later, stdlib only: the files are
                                             the same whichever makes them)

Deterministic: every record attribute that depends on time, thread, process or
file location is set explicitly; the traceback comes from code compiled under
a fixed file name whose source is registered in linecache; sets only hold
small ints.  Re-running gives byte-identical files (checked by --check).

Every decoder case is checked three ways before it is written:
  line == to_line(d) == to_line(pickle.loads(p)) == line_from_pickle(p)
for each protocol (line_from_pickle walks the opcodes without importing
anything, like the TypeScript decoder), and the line must be identical for all
protocols.  Every refused case must make both pickle.loads-then-to_line and
line_from_pickle refuse with the stated reason (bad-pickle: pickle.loads fails).
"""

from __future__ import annotations

import base64
import collections
import datetime
import decimal
import io
import json
import linecache
import logging
import math
import os
import pickle
import sys
import traceback
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.dont_write_bytecode = True  # leave no __pycache__ in scripts/
sys.path.insert(0, HERE)

import reference_line as ref  # noqa: E402
from fixture_types import Color, MyStr, Thing  # noqa: E402

OUT_DIR = os.path.join(ROOT, "test", "fixtures")
ALL_PROTOCOLS = (0, 1, 2, 3, 4, 5)

# fixed record attributes --------------------------------------------------
CREATED = 1695651604.501
RELATIVE_CREATED = 5012.345678
THREAD = 140234567890432          # > 2**32: LONG text in protocols 0/1, LONG1 in 2+
THREAD_NAME = "MainThread"
PROCESS = 4242
PROCESS_NAME = "MainProcess"
PATHNAME = "/srv/app/payments/service.py"


def msecs_for(created):
    # exactly LogRecord.__init__ in 3.11 (gh-89047)
    return int((created - int(created)) * 1000) + 0.0


# The attributes of a LogRecord as Python 3.11 makes it.  Later versions add their own (3.12: taskName); the
# fixtures must not depend on the Python that makes them, so a record keeps these (and its extras) only.
RECORD_ATTRS = ("name", "msg", "args", "levelname", "levelno", "pathname", "filename", "module", "exc_info",
                "exc_text", "stack_info", "lineno", "funcName", "created", "msecs", "relativeCreated", "thread",
                "threadName", "processName", "process")


def make_record(name="app.payments.service", level=logging.INFO,
                msg="charged %s for order %d", args=("EUR 12.50", 1042),
                exc_info=None, extra=None, sinfo=None, func="charge",
                lineno=42, pathname=PATHNAME, created=CREATED):
    logger = logging.getLogger(name)
    rec = logger.makeRecord(name, level, pathname, lineno, msg, args, exc_info,
                            func=func, extra=extra, sinfo=sinfo)
    rec.created = created
    rec.msecs = msecs_for(created)
    rec.relativeCreated = RELATIVE_CREATED
    rec.thread = THREAD
    rec.threadName = THREAD_NAME
    rec.processName = PROCESS_NAME
    rec.process = PROCESS
    for attr in [k for k in vars(rec) if k not in RECORD_ATTRS and k not in (extra or {})]:
        delattr(rec, attr)
    return rec


def record_dict(**kw):
    return ref.prepare_record_dict(make_record(**kw))


# a real traceback from code with a fixed file name --------------------------
SERVICE_SRC = '''\
RATES = {"EUR": 1.0}


def convert(currency):
    return RATES[currency] * 100


def charge(order):
    try:
        return convert(order["currency"])
    except KeyError as exc:
        raise ValueError(f"cannot charge order {order['id']}: unknown currency") from exc


def run():
    import sys
    try:
        charge({"id": 1042, "currency": "XYZ"})
    except ValueError:
        return sys.exc_info()
'''


def service_exc_info():
    linecache.cache[PATHNAME] = (len(SERVICE_SRC), None, SERVICE_SRC.splitlines(True), PATHNAME)
    ns = {"__name__": "app.payments.service"}
    exec(compile(SERVICE_SRC, PATHNAME, "exec"), ns)
    return ns["run"]()


# The traceback text of service_exc_info() as Python 3.11 formats it.  Where the carets (^^^ and ~~~) go under a
# line differs between versions (3.13 marks the call in `run` and not the one in `charge`), so the fixtures take
# this text; with_exc_text() checks that the running Python gives the same text apart from the caret lines.
SERVICE_EXC_TEXT = """Traceback (most recent call last):
  File "/srv/app/payments/service.py", line 10, in charge
    return convert(order["currency"])
           ^^^^^^^^^^^^^^^^^^^^^^^^^^
  File "/srv/app/payments/service.py", line 5, in convert
    return RATES[currency] * 100
           ~~~~~^^^^^^^^^^
KeyError: 'XYZ'

The above exception was the direct cause of the following exception:

Traceback (most recent call last):
  File "/srv/app/payments/service.py", line 18, in run
    charge({"id": 1042, "currency": "XYZ"})
  File "/srv/app/payments/service.py", line 12, in charge
    raise ValueError(f"cannot charge order {order['id']}: unknown currency") from exc
ValueError: cannot charge order 1042: unknown currency"""


def with_exc_text(rec):
    """Gives a record made with service_exc_info() the 3.11 text of its traceback (see SERVICE_EXC_TEXT)."""
    def no_carets(text):
        return [line for line in text.split("\n") if line.strip() and set(line.strip()) - set("^~")]
    real = logging._defaultFormatter.formatException(rec.exc_info)
    assert no_carets(real) == no_carets(SERVICE_EXC_TEXT), real
    rec.exc_text = SERVICE_EXC_TEXT
    return rec


def fixed_stack_info():
    """The text Logger.findCaller(stack_info=True) produces, for a fixed stack."""
    frames = traceback.StackSummary.from_list([
        ("/srv/app/main.py", 12, "<module>", "app.run()"),
        ("/srv/app/server.py", 88, "run", "self.dispatch(request)"),
        (PATHNAME, 40, "charge", 'log.info("charging", stack_info=True)'),
    ])
    sinfo = "Stack (most recent call last):\n" + "".join(frames.format())
    return sinfo[:-1] if sinfo.endswith("\n") else sinfo


# values for case 3 -----------------------------------------------------------
def nest_lists(n):
    v = []
    for _ in range(n - 1):
        v = [v]
    return v


def nest_dicts(n):
    v = {}
    for i in range(n - 1):
        v = {f"k{n - 1 - i}": v}
    return v


def nest_tuples(n):
    v = ()
    for _ in range(n - 1):
        v = (v,)
    return v


LONG_STR = ("".join(f"line {i:05d} " + "x" * 47 + ("é日🎉\n" if i % 4 == 0 else "\n")
                    for i in range(1200)))[:70000]
assert len(LONG_STR) == 70000
STR_300 = ("The quick brown fox jumps over the lazy dog; " * 7)[:300]

UTC = datetime.timezone.utc
IST = datetime.timezone(datetime.timedelta(hours=5, minutes=30))
BRT = datetime.timezone(datetime.timedelta(hours=-3), "BRT")


def thing_ab():
    return Thing(a=1, b="two")


def err_with_attr():
    e = ValueError("bad value", 7)
    e.code = "E42"
    return e


def shared_list_record():
    shared = [1, "two", {"three": 3}]
    return {"first": shared, "second": shared, "nested": {"again": shared}}


def ordered_dict():
    return collections.OrderedDict([("z", 1), ("a", 2), ("m", [3])])


def default_dict():
    d = collections.defaultdict(list)
    d["x"].append(1)
    d["y"].append(2)
    return d


VALUES = [
    # ints
    ("int/2**70", 2**70), ("int/-2**70", -2**70),
    ("int/2**53+1", 2**53 + 1), ("int/-(2**53+1)", -(2**53 + 1)),
    ("int/2**63", 2**63), ("int/-2**63", -2**63), ("int/2**64", 2**64),
    ("int/2**31", 2**31), ("int/-2**31-1", -2**31 - 1), ("int/2**31-1", 2**31 - 1),
    ("int/-2**31", -2**31), ("int/255", 255), ("int/256", 256), ("int/65535", 65535),
    ("int/65536", 65536), ("int/-1", -1), ("int/0", 0), ("int/1", 1),
    ("int/10**100", 10**100), ("int/-(10**100)", -(10**100)),
    # floats
    ("float/0.1", 0.1), ("float/-0.0", -0.0), ("float/0.0", 0.0), ("float/1.0", 1.0),
    ("float/1e-05", 1e-05), ("float/0.0001", 0.0001), ("float/1e+16", 1e16),
    ("float/1e+15", 1e15), ("float/1e+22", 1e22), ("float/1.5e300", 1.5e300),
    ("float/5e-324", 5e-324), ("float/123456.789", 123456.789),
    ("float/-2.5", -2.5), ("float/1.7976931348623157e+308", 1.7976931348623157e308),
    ("float/nan", math.nan), ("float/inf", math.inf), ("float/-inf", -math.inf),
    # singletons
    ("const/True", True), ("const/False", False), ("const/None", None),
    # strings
    ("str/emoji", "🎉"), ("str/cjk", "日本語"), ("str/u2028-u2029", "\u2028\u2029"),
    ("str/quotes-backslashes", "\"'\\"), ("str/control", "\x00\x01\x1f\x7f\t\n\r\b\f"),
    ("str/x1a-and-backslash-u", "\x1a\\u0041\\U0001F389\\x41"),
    ("str/empty", ""), ("str/latin-1", "café ÿ"), ("str/255-bytes", "a" * 255),
    ("str/256-bytes", "a" * 256), ("str/300-chars", STR_300),
    ("str/nbsp-bom-replacement", "\u00a0\ufeff\ufffd\U0010ffff"),
    # containers
    ("list/mixed", [1, "two", 3.0, None, True, [4, [5]]]), ("tuple/mixed", (1, "two", (3,), [])),
    ("tuple/1", (1,)), ("tuple/2", (1, 2)), ("tuple/3", (1, 2, 3)), ("tuple/4", (1, 2, 3, 4)),
    ("dict/nested-5-deep", {"a": {"b": {"c": {"d": {"e": "deep"}}}}}),
    ("list/empty", []), ("dict/empty", {}), ("tuple/empty", ()),
    ("list/2500-ints", list(range(2500))),
    ("dict/1200-entries", {f"k{i}": i for i in range(1200)}),
    ("dict/non-str-keys", {1: "int", 1.5: "float", None: "none", (1, 2): "tuple",
                           "1": "dropped: same key as int 1", 2**70: "big", -0.5: "neg"}),
    ("dict/str-key-first-wins", {"1": "str first", "a": 0, 1: "dropped int"}),
    ("dict/bool-keys", {True: "t", False: "f", "true": "dropped"}),
    ("dict/float-special-keys", {math.nan: "nan", math.inf: "inf", -math.inf: "-inf", 1e16: "big"}),
    ("dict/bytes-and-tuple-keys", {b"caf\xc3\xa9": 1, b"\xff": 2, (1, "a", None): 3, (): 4}),
    ("dict/proto-keys", {"__proto__": {"polluted": True}, "constructor": 1,
                         "toString": "s", "hasOwnProperty": None, "valueOf": []}),
    ("dict/integer-like-keys-order", {"b": 1, "10": 2, "a": 3, "2": 4, "-1": 5, "01": 6}),
    # bytes
    ("bytes/abc", b"abc"), ("bytes/utf8", b"caf\xc3\xa9"), ("bytes/invalid", b"\xff\xfe\x00a"),
    ("bytes/empty", b""), ("bytearray/xy", bytearray(b"xy")), ("bytearray/empty", bytearray()),
    ("bytes/surrogate-overlong-truncated",
     b"\xed\xa0\x80|\xc0\x80|\xe6\x97|\xe6\x97A|\xf4\x90\x80\x80|\xf0\x9f\x8e\x89|\x80"),
    ("bytes/all-latin1-range", bytes(range(0x80, 0x100))),
    ("bytes/300-bytes", bytes(range(256)) + b"0123456789" * 4 + b"\xe6\x97\xa5\xff"),
    ("bytes/control-and-backslash", b"\\n\n\r\x1a\x00\x7f\""),
    # datetime
    ("datetime/naive-us", datetime.datetime(2023, 9, 25, 14, 20, 4, 501123)),
    ("datetime/naive-no-us", datetime.datetime(1999, 12, 31, 23, 59, 59)),
    ("datetime/utc", datetime.datetime(2023, 9, 25, 14, 20, 4, tzinfo=UTC)),
    ("datetime/+05:30", datetime.datetime(2023, 9, 25, 19, 50, 4, 1000, tzinfo=IST)),
    ("datetime/-03:00-named", datetime.datetime(2023, 9, 25, 11, 20, 4, tzinfo=BRT)),
    ("datetime/fold-1", datetime.datetime(2023, 11, 5, 1, 30, 0, 250000, fold=1)),
    ("datetime/year-1", datetime.datetime(1, 1, 1)),
    ("datetime/year-9999", datetime.datetime(9999, 12, 31, 23, 59, 59, 999999)),
    ("date", datetime.date(2023, 9, 25)), ("date/year-5", datetime.date(5, 1, 2)),
    ("time/us", datetime.time(14, 20, 4, 123)), ("time/midnight", datetime.time(0, 0)),
    ("time/utc", datetime.time(14, 20, tzinfo=UTC)),
    ("time/fold-1-+05:30", datetime.time(23, 59, 59, 999999, tzinfo=IST, fold=1)),
    # decimal / uuid
    ("decimal/1.10", decimal.Decimal("1.10")), ("decimal/-0.000001", decimal.Decimal("-0.000001")),
    ("decimal/1E+3", decimal.Decimal("1E+3")), ("decimal/nan", decimal.Decimal("NaN")),
    ("uuid", uuid.UUID("12345678-1234-5678-1234-567812345678")),
    ("uuid/small-int", uuid.UUID(int=1)),
    ("uuid/is_safe-in-state", uuid.UUID("6ba7b810-9dad-11d1-80b4-00c04fd430c8", is_safe=uuid.SafeUUID.safe)),
    # sets
    ("set/1-2-3", {1, 2, 3}), ("set/empty", set()), ("frozenset/5", frozenset({5})),
    ("frozenset/empty", frozenset()),
    # objects
    ("object/enum", Color.RED), ("object/ValueError", ValueError("boom")),
    ("object/exception-with-attr", err_with_attr()),
    ("object/plain-instance", thing_ab()), ("object/plain-instance-empty", Thing()),
    ("object/nested-instances", Thing(inner=Thing(x=[1, 2]), color=Color.GREEN)),
    ("object/str-subclass", MyStr("hello")),
    ("object/timedelta", datetime.timedelta(days=1)),
    ("object/timedelta-negative", datetime.timedelta(hours=-3, microseconds=5)),
    ("dict/OrderedDict", ordered_dict()), ("dict/OrderedDict-empty", collections.OrderedDict()),
    ("dict/defaultdict", default_dict()), ("dict/Counter", collections.Counter("abracadabra")),
    # memo sharing (not a cycle)
    ("memo/shared-list-three-times", shared_list_record()),
    # depth boundary: 99 nested lists inside the record = depth 100 (allowed)
    ("depth/exactly-100", nest_lists(99)),
]


# large containers (APPENDS/SETITEMS batches of 1000) only for protocols 0, 1, 4
BIG_VALUES = ("list/2500-ints", "dict/1200-entries")


def value_record(label, value):
    """A lean record holding one value in the extra key "v".

    Lean (not the ~20 keys of a real LogRecord) to keep the fixtures under
    2 MB; the full SocketHandler shape is covered by record/* and
    record/many-extras, which carries every one of these values too.
    """
    return {"name": "fixtures.values", "msg": label, "args": None, "levelname": "INFO",
            "levelno": 20, "created": CREATED, "v": value}


def value_cases():
    seen = set()
    for label, value in VALUES:
        assert label not in seen, label
        seen.add(label)
        protocols = (0, 1, 4) if label in BIG_VALUES else ALL_PROTOCOLS
        yield "value/" + label, value_record(label, value), protocols
    yield "value/str/70000-chars", value_record("str/70000-chars", LONG_STR), (1, 4)


def many_extras():
    extra = {}
    for label, value in VALUES:
        if label in BIG_VALUES or label == "depth/exactly-100":
            continue
        extra["x_" + label] = value
    extra.update({"__proto__": "top-level __proto__", "constructor": "c",
                  "toString": 1, "hasOwnProperty": [], "10": "ten", "2": "two"})
    return extra


def level_cases():
    specs = [
        ("record/info", dict(level=logging.INFO)),
        ("record/warning", dict(level=logging.WARNING, name="app.payments.gateway.stripe",
                                msg="retry %d/%d after %.1fs", args=(2, 5, 1.5))),
        ("record/error", dict(level=logging.ERROR, name="app.db",
                              msg="query failed: %r", args=({"sql": "SELECT 1", "ms": 12.5},))),
        ("record/debug", dict(level=logging.DEBUG, name="app.cache.redis.client",
                              msg="hit ratio %(ratio).2f for %(key)s",
                              args=({"ratio": 0.8333, "key": "user:42"},))),
        ("record/critical", dict(level=logging.CRITICAL, name="root",
                                 msg="disk full on %s (%d%%) – ünïcödé 🎉", args=("/var", 99))),
        ("record/custom-level", dict(level=25, msg="plain message, no args", args=())),
        ("record/no-args-percent", dict(msg="100% literal %s kept", args=None)),
    ]
    for name, kw in specs:
        yield name, record_dict(**kw), ALL_PROTOCOLS

    ei = service_exc_info()
    rec = with_exc_text(make_record(level=logging.ERROR, msg="payment %s failed", args=("order-1042",),
                                    exc_info=ei))
    d = ref.prepare_record_dict(rec)
    assert d["exc_text"].startswith("Traceback (most recent call last):"), d["exc_text"]
    assert "The above exception was the direct cause" in d["exc_text"]
    yield "record/exc_info", d, ALL_PROTOCOLS
    yield "record/stack_info", record_dict(msg="charging", args=(), sinfo=fixed_stack_info()), ALL_PROTOCOLS
    ei = service_exc_info()
    yield "record/exc_info-and-stack_info", ref.prepare_record_dict(with_exc_text(make_record(
        level=logging.CRITICAL, msg="giving up", args=(), exc_info=ei,
        sinfo=fixed_stack_info()))), ALL_PROTOCOLS


def created_cases():
    for label, created in [("1695651604.501", 1695651604.501), ("1695651604.9995", 1695651604.9995),
                           ("1695651604.0", 1695651604.0), ("0.5", 0.5),
                           ("1e9+0.0005", 1e9 + 0.0005), ("int-1700000000", 1700000000),
                           ("1695651604.9999995-carries-into-next-second", 1695651604.9999995),
                           ("-1.5", -1.5), ("-0.0", -0.0),
                           ("1700000000.999999", 1700000000.999999), ("0.0", 0.0),
                           ("int-0", 0), ("253402300799.999", 253402300799.999)]:
        yield "created/" + label, record_dict(created=created), ALL_PROTOCOLS


def hand_cases():
    base = record_dict(msg="base", args=())

    def variant(**changes):
        d = dict(base)
        for k, v in changes.items():
            if v is DELETE:
                del d[k]
            else:
                d[k] = v
        return d

    yield "msg/int-42", variant(msg=42, args=None), ALL_PROTOCOLS
    yield "msg/dict", variant(msg={"a": 1}, args=None), ALL_PROTOCOLS
    yield "msg/none", variant(msg=None), ALL_PROTOCOLS
    yield "msg/list", variant(msg=[1, "two", 3.5]), ALL_PROTOCOLS
    yield "msg/float-1.0", variant(msg=1.0), ALL_PROTOCOLS
    yield "msg/missing", variant(msg=DELETE), ALL_PROTOCOLS
    yield "msg/str-with-format-and-args-none", variant(msg="kept %s %d", args=None), ALL_PROTOCOLS
    yield "levelname/missing", variant(levelname=DELETE), ALL_PROTOCOLS
    yield "levelname/int", variant(levelname=20), ALL_PROTOCOLS
    yield "levelname/none", variant(levelname=None), ALL_PROTOCOLS
    # received message / created_human keys are dropped
    d = {"message": "stale message", "name": "sender", "msg": "real message",
         "created_human": "bogus", "levelname": "WARNING", "created": 1695651604.501}
    yield "reserved/received-message-and-created_human-dropped", d, ALL_PROTOCOLS
    # reserved keys in a non-standard order; created first
    d = {"created": 1700000000.25, "levelname": "INFO", "zeta": 1, "msg": "m", "alpha": 2}
    yield "reserved/order", d, ALL_PROTOCOLS
    # minimal record: only created
    yield "minimal/only-created", {"created": 1695651604.501}, ALL_PROTOCOLS
    # non-str top-level keys; first converted key wins
    d = {"created": 1695651604.501, "msg": "top-level keys", 1: "int key", "1": "dropped str key",
         None: "none key", b"bkey": "bytes key", 2.5: "float key", (1, 2): "tuple key"}
    yield "top-level/non-str-keys", d, ALL_PROTOCOLS
    yield "top-level/proto-keys", record_dict(extra={"__proto__": {"x": 1}, "constructor": "c",
                                                     "toString": "t", "hasOwnProperty": 0}), ALL_PROTOCOLS
    yield "top-level/integer-like-keys", record_dict(extra={"b": 1, "10": 2, "2": 3}), ALL_PROTOCOLS


DELETE = object()


def decoder_cases():
    yield from level_cases()
    yield from value_cases()
    yield "record/many-extras", record_dict(extra=many_extras()), ALL_PROTOCOLS
    yield from created_cases()
    yield from hand_cases()


# refused cases -------------------------------------------------------------
def self_list():
    v = [1]
    v.append(v)
    return v


def self_dict():
    d = {"a": 1}
    d["self"] = d
    return d


def indirect_cycle():
    outer = [{"inner": []}]
    outer[0]["inner"].append(outer)
    return outer


def recursive_tuple():
    t = ([],)
    t[0].append(t)
    return t


def self_object():
    t = Thing(name="loop")
    t.me = t
    return t


def self_record():
    d = record_dict()
    d["self"] = d
    return d


def refused_cases():
    base = record_dict()
    cases = []

    def add(name, reason, data):
        cases.append((name, reason, data))

    # not-a-dict
    for p in (0, 1, 2, 4):
        add(f"not-a-dict/list/p{p}", "not-a-dict", pickle.dumps([base], p))
        add(f"not-a-dict/str/p{p}", "not-a-dict", pickle.dumps("created", p))
    for p in (1, 3, 5):
        add(f"not-a-dict/none/p{p}", "not-a-dict", pickle.dumps(None, p))
        add(f"not-a-dict/int/p{p}", "not-a-dict", pickle.dumps(1695651604, p))
        add(f"not-a-dict/tuple-of-pairs/p{p}", "not-a-dict",
            pickle.dumps(tuple(base.items()), p))
        add(f"not-a-dict/object/p{p}", "not-a-dict", pickle.dumps(Thing(**base), p))
        add(f"not-a-dict/set/p{p}", "not-a-dict", pickle.dumps({1, 2}, p))
        add(f"not-a-dict/bytes/p{p}", "not-a-dict", pickle.dumps(b"{}", p))

    # bad-created
    def with_created(v):
        d = dict(base)
        if v is DELETE:
            del d["created"]
        else:
            d["created"] = v
        return d

    bad_created = [("missing", DELETE), ("str", "1695651604.501"), ("none", None),
                   ("true", True), ("false", False), ("nan", math.nan), ("inf", math.inf),
                   ("-inf", -math.inf), ("list", [1695651604.501]),
                   ("decimal", decimal.Decimal("1695651604.501")),
                   ("datetime", datetime.datetime(2023, 9, 25, 14, 20, 4)),
                   ("bytes", b"1695651604")]
    for i, (label, v) in enumerate(bad_created):
        for p in (ALL_PROTOCOLS if label in ("missing", "true", "nan", "inf") else (1, (0, 2, 3, 4, 5)[i % 5])):
            add(f"bad-created/{label}/p{p}", "bad-created", pickle.dumps(with_created(v), p))

    # bad-pickle
    good1 = pickle.dumps(base, 1)
    good4 = pickle.dumps(base, 4)
    good0 = pickle.dumps(base, 0)
    for name, data in [
        ("empty", b""),
        ("garbage-text", b"hello, this is not a pickle\n"),
        ("garbage-json", b'{"msg": "json is not a pickle", "created": 1}'),
        ("garbage-binary", bytes([0xFF, 0xFE, 0xFD, 0x00, 0x01])),
        ("unknown-opcode-after-proto", b"\x80\x02}q\x00\xff."),
        ("unknown-opcode-first", b"\xfe."),
        ("truncated/p1-half", good1[:len(good1) // 2]),
        ("truncated/p1-no-stop", good1[:-1]),
        ("truncated/p4-half", good4[:len(good4) // 2]),
        ("truncated/p4-in-frame-header", good4[:5]),
        ("truncated/p0-mid-line", good0[:len(good0) // 3]),
        ("truncated/proto-only", b"\x80\x02"),
        ("truncated/binunicode-length", b"\x80\x02X\xff\xff\x00\x00abc."),
        ("stop-only", b"."),
        ("append-on-empty-stack", b"a."),
        ("tuple2-on-empty-stack", b"\x80\x02\x86."),
        ("setitem-missing-value", b"}X\x01\x00\x00\x00a" + b"s."),
        ("binget-missing-memo", b"\x80\x02h\x05."),
        ("get-missing-memo-p0", b"g7\n."),
        ("dict-odd-items", b"(K\x01d."),
        ("int-not-a-number", b"Ixyz\n."),
    ]:
        add(f"bad-pickle/{name}", "bad-pickle", data)

    # too-deep
    for p in (0, 1, 2, 4, 5):
        add(f"too-deep/lists-150/p{p}", "too-deep", pickle.dumps(dict(base, deep=nest_lists(150)), p))
    for p in (1, 3):
        add(f"too-deep/dicts-150/p{p}", "too-deep", pickle.dumps(dict(base, deep=nest_dicts(150)), p))
        add(f"too-deep/tuples-150/p{p}", "too-deep", pickle.dumps(dict(base, deep=nest_tuples(150)), p))
        add(f"too-deep/lists-100-is-depth-101/p{p}", "too-deep",
            pickle.dumps(dict(base, deep=nest_lists(100)), p))
        add(f"too-deep/msg-not-str/p{p}", "too-deep",
            pickle.dumps(dict(base, msg=nest_lists(120)), p))

    # cyclic
    for p in ALL_PROTOCOLS:
        add(f"cyclic/list-contains-itself/p{p}", "cyclic", pickle.dumps(dict(base, loop=self_list()), p))
    for p in (1, 2, 4):
        add(f"cyclic/dict-contains-itself/p{p}", "cyclic", pickle.dumps(dict(base, loop=self_dict()), p))
        add(f"cyclic/list-dict-list/p{p}", "cyclic", pickle.dumps(dict(base, loop=indirect_cycle()), p))
        add(f"cyclic/tuple-list-tuple/p{p}", "cyclic", pickle.dumps(dict(base, loop=recursive_tuple()), p))
        add(f"cyclic/object-state-contains-object/p{p}", "cyclic",
            pickle.dumps(dict(base, loop=self_object()), p))
        add(f"cyclic/record-contains-itself/p{p}", "cyclic", pickle.dumps(self_record(), p))
    return cases


# checks --------------------------------------------------------------------
def canonical(line):
    """Re-serialise with json: must give back the same text (compact, valid)."""
    return json.dumps(json.loads(line), ensure_ascii=False, separators=(",", ":"))


class _SameStrings(pickle._Pickler):
    """The pickler, with equal strings always one object (so one memo entry).

    Which equal strings are one object differs between Python versions (3.13 makes one-character constants the
    cached ones; a C type's __module__ is a new string at each access in some versions, not in others), and
    with it where a pickle says BINGET instead of repeating a string.  Sharing every equal string makes the
    fixtures the same whichever Python makes them; the pickles are no less what Python writes.
    """

    def __init__(self, file, protocol):
        super().__init__(file, protocol)
        self._same = {}

    def save(self, obj, save_persistent_id=True):
        if type(obj) is str:
            obj = self._same.setdefault(obj, obj)
        super().save(obj, save_persistent_id)


def dumps(obj, protocol):
    f = io.BytesIO()
    _SameStrings(f, protocol).dump(obj)
    return f.getvalue()


def build_decoder_fixtures():
    out = []
    names = set()
    for name, d, protocols in decoder_cases():
        assert name not in names, name
        names.add(name)
        line = ref.to_line(d)
        assert canonical(line) == line, (name, line[:200])
        for p in protocols:
            data = dumps(d, p)
            via_loads = ref.to_line(pickle.loads(data))
            via_ops = ref.line_from_pickle(data)
            if not (via_loads == line == via_ops):
                raise AssertionError(f"{name} p{p}:\n  orig  {line[:400]}\n  loads {via_loads[:400]}"
                                     f"\n  ops   {via_ops[:400]}")
            out.append({"name": name, "protocol": p,
                        "pickle": base64.b64encode(data).decode("ascii"), "line": line})
    return out


def refused_reason(fn, data):
    try:
        fn(data)
    except ref.Refused as e:
        return e.reason
    return None


def loads_then_line(data):
    try:
        obj = pickle.loads(data)
    except Exception as e:  # noqa: BLE001 - any failure to load is bad-pickle
        raise ref.Refused("bad-pickle", repr(e)) from e
    return ref.to_line(obj)


def build_refused_fixtures():
    out = []
    names = set()
    for name, reason, data in refused_cases():
        assert name not in names, name
        names.add(name)
        r_ops = refused_reason(ref.line_from_pickle, data)
        r_loads = refused_reason(loads_then_line, data)
        if not (r_ops == r_loads == reason):
            raise AssertionError(f"{name}: expected {reason}, walker {r_ops}, loads {r_loads}")
        out.append({"name": name, "pickle": base64.b64encode(data).decode("ascii"), "reason": reason})
    return out


def dump(path, value):
    text = json.dumps(value, ensure_ascii=False, indent=1) + "\n"
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        f.write(text)
    return text


def main(argv):
    os.makedirs(OUT_DIR, exist_ok=True)
    decoder = build_decoder_fixtures()
    refused = build_refused_fixtures()
    paths = {os.path.join(OUT_DIR, "decoder-cases.json"): decoder,
             os.path.join(OUT_DIR, "refused-cases.json"): refused}
    if "--check" in argv:  # verify the committed files are up to date
        stale = [p for p, v in paths.items()
                 if not os.path.exists(p) or open(p, encoding="utf-8").read()
                 != json.dumps(v, ensure_ascii=False, indent=1) + "\n"]
        for p in stale:
            print(f"stale: {os.path.relpath(p, ROOT)}")
        return 1 if stale else 0
    total = 0
    for p, v in paths.items():
        total += len(dump(p, v).encode("utf-8"))
        print(f"wrote {os.path.relpath(p, ROOT)}: {len(v)} cases")
    print(f"total {total} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
