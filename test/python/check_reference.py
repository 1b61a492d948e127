#!/usr/bin/env python3
"""Self-test of scripts/reference_line.py (run by hand: python3 test/python/check_reference.py).

Hand-checked lines and values, SocketHandler.makePickle equivalence, and a
re-check of the committed fixtures against both reference paths.
"""

import base64
import calendar
import collections
import datetime
import decimal
import json
import logging
import logging.handlers
import math
import os
import pickle
import sys
import time
import uuid

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.dont_write_bytecode = True  # leave no __pycache__ in scripts/
sys.path.insert(0, os.path.join(ROOT, "scripts"))

import reference_line as ref  # noqa: E402
from fixture_types import Color, MyStr, Thing  # noqa: E402

failures = []


def check(name, got, want):
    if got != want:
        failures.append(f"{name}:\n   got  {got!r}\n   want {want!r}")


def refused(fn, *args):
    try:
        fn(*args)
    except ref.Refused as e:
        return e.reason
    return None


# --- created_human, computed independently of datetime.fromtimestamp -------
t = 1695651604.501
gm = time.gmtime(int(t))
check("gmtime of 1695651604", time.strftime("%Y-%m-%d %H:%M:%S", gm), "2023-09-25 14:20:04")
check("created_human 1695651604.501", ref.created_human(t), "2023-09-25 14:20:04.501")
check("calendar round trip", calendar.timegm((2023, 9, 25, 14, 20, 4)), 1695651604)
check("created_human .9995", ref.created_human(1695651604.9995), "2023-09-25 14:20:04.999")
check("created_human carry", ref.created_human(1695651604.9999995), "2023-09-25 14:20:05.000")
check("created_human 1e9+0.0005", ref.created_human(1e9 + 0.0005), "2001-09-09 01:46:40.000")
check("created_human int", ref.created_human(1700000000), "2023-11-14 22:13:20.000")
check("created_human -1.5", ref.created_human(-1.5), "1969-12-31 23:59:58.500")
check("created_human explicit tz",
      ref.created_human(t, tz=datetime.timezone(datetime.timedelta(hours=2))), "2023-09-25 16:20:04.501")

# --- whole lines -------------------------------------------------------------
d = {"name": "a.b", "msg": "hi", "args": None, "levelname": "INFO", "created": 1695651604.501,
     "message": "dropped", "x": [1, 2.0, None, True, "é"], "created_human": "dropped too"}
check("line basic", ref.to_line(d),
      '{"message":"hi","levelname":"INFO","created":1695651604.501,'
      '"created_human":"2023-09-25 14:20:04.501","name":"a.b","msg":"hi","args":null,'
      '"x":[1,2.0,null,true,"é"]}')
check("line int created, no msg, no levelname", ref.to_line({"created": 1700000000}),
      '{"message":"","levelname":null,"created":1700000000,"created_human":"2023-11-14 22:13:20.000"}')
check("line msg int", ref.to_line({"created": 0.5, "msg": 5}),
      '{"message":"5","levelname":null,"created":0.5,"created_human":"1970-01-01 00:00:00.500","msg":5}')
check("line msg dict", ref.to_line({"created": 1.0, "msg": {"a": 1}}),
      '{"message":"{\\"a\\":1}","levelname":null,"created":1.0,'
      '"created_human":"1970-01-01 00:00:01.000","msg":{"a":1}}')
check("line local tz", ref.to_line({"created": 1.0}, utc=False, tz=datetime.timezone(datetime.timedelta(hours=-1))),
      '{"message":"","levelname":null,"created":1.0,"created_human":"1969-12-31 23:00:01.000"}')

# --- values (spec examples) ---------------------------------------------------
values = [
    (2**70, "1180591620717411303424"), (-(2**53 + 1), "-9007199254740993"),
    (True, "true"), (False, "false"), (None, "null"), (0, "0"),
    (1.0, "1.0"), (-0.0, "-0.0"), (1e-05, "1e-05"), (1e16, "1e+16"), (0.1, "0.1"),
    (5e-324, "5e-324"), (math.nan, '"NaN"'), (math.inf, '"Infinity"'), (-math.inf, '"-Infinity"'),
    ("\u2028\x7f🎉\x00\x1f\"\\", '"\u2028\x7f🎉\\u0000\\u001f\\"\\\\"'),
    ("\b\f\n\r\t", '"\\b\\f\\n\\r\\t"'),
    (b"abc", '"abc"'), (b"caf\xc3\xa9", '"café"'), (b"\xff\xfe\x00a", '"\\\\xff\\\\xfe\\u0000a"'),
    (bytearray(b"xy"), '"xy"'), (b"", '""'),
    ((1, (2,)), "[1,[2]]"), ({1, 2, 3}, "[1,2,3]"), (frozenset({5}), "[5]"),
    ({1: "a", 1.5: "b", None: "c", (1, 2): "d", "1": "e"}, '{"1":"a","1.5":"b","null":"c","[1,2]":"d"}'),
    ({True: 1, False: 0}, '{"true":1,"false":0}'),
    ({math.nan: 1, b"k\xff": 2}, '{"NaN":1,"k\\\\xff":2}'),
    (collections.OrderedDict([("b", 1), ("a", 2)]), '{"b":1,"a":2}'),
    (collections.Counter("aab"), '{"a":2,"b":1}'),
    (datetime.datetime(2023, 9, 25, 14, 20, 4, 501000), '"2023-09-25T14:20:04.501000"'),
    (datetime.datetime(2023, 9, 25, tzinfo=datetime.timezone.utc), '"2023-09-25T00:00:00+00:00"'),
    (datetime.datetime(2023, 9, 25, tzinfo=datetime.timezone(datetime.timedelta(hours=5, minutes=30))),
     '"2023-09-25T00:00:00+05:30"'),
    (datetime.date(2023, 9, 25), '"2023-09-25"'), (datetime.time(1, 2, 3, 4), '"01:02:03.000004"'),
    (decimal.Decimal("1.10"), '"1.10"'), (decimal.Decimal("-0.000001"), '"-0.000001"'),
    (uuid.UUID("12345678-1234-5678-1234-567812345678"), '"12345678-1234-5678-1234-567812345678"'),
    (ValueError("boom"), '{"__class__":"builtins.ValueError","args":["boom"]}'),
    (Color.RED, '{"__class__":"fixture_types.Color","args":[1]}'),
    (Thing(a=1), '{"__class__":"fixture_types.Thing","args":[],"state":{"a":1}}'),
    (Thing(), '{"__class__":"fixture_types.Thing","args":[]}'),
    (MyStr("s"), '{"__class__":"fixture_types.MyStr","args":["s"]}'),
    (datetime.timedelta(days=1), '{"__class__":"datetime.timedelta","args":[1,0,0]}'),
]
for v, want in values:
    check(f"conv {v!r}", ref.conv(v), want)
    for p in range(6):
        data = pickle.dumps({"created": 1.0, "v": v}, p)
        got = ref.line_from_pickle(data)
        check(f"walker p{p} {v!r}", got[got.index('"v":') + 4:-1], want)

# memo sharing is not a cycle
shared = [1]
check("shared", ref.conv({"a": shared, "b": [shared]}), '{"a":[1],"b":[[1]]}')

# --- refusals -------------------------------------------------------------------
def nest(n):
    v = []
    for _ in range(n - 1):
        v = [v]
    return v


loop = [1]
loop.append(loop)
check("not-a-dict", refused(ref.to_line, [1]), "not-a-dict")
check("bad-created missing", refused(ref.to_line, {"msg": "x"}), "bad-created")
check("bad-created bool", refused(ref.to_line, {"created": True}), "bad-created")
check("bad-created nan", refused(ref.to_line, {"created": math.nan}), "bad-created")
check("bad-created str", refused(ref.to_line, {"created": "1"}), "bad-created")
check("depth 100 ok", refused(ref.to_line, {"created": 1, "v": nest(99)}), None)
check("depth 101 refused", refused(ref.to_line, {"created": 1, "v": nest(100)}), "too-deep")
check("cyclic", refused(ref.to_line, {"created": 1, "v": loop}), "cyclic")
check("cyclic walker", refused(ref.line_from_pickle, pickle.dumps({"created": 1, "v": loop}, 2)), "cyclic")
check("bad-pickle empty", refused(ref.line_from_pickle, b""), "bad-pickle")
check("bad-pickle truncated", refused(ref.line_from_pickle, pickle.dumps({"created": 1}, 1)[:-1]), "bad-pickle")
check("bad-pickle opcode", refused(ref.line_from_pickle, b"\x80\x02\xff."), "bad-pickle")

# --- prepare_record_dict == SocketHandler.makePickle ------------------------------
def rec(exc=False):
    r = logging.makeLogRecord({"name": "a.b", "msg": "n=%d", "args": (5,), "levelname": "INFO",
                               "levelno": 20, "created": 1695651604.501, "msecs": 500.0,
                               "relativeCreated": 12.5, "thread": 1, "process": 2})
    if exc:
        try:
            raise ValueError("x")
        except ValueError:
            r.exc_info = sys.exc_info()
    return r


handler = logging.handlers.SocketHandler("localhost", None)
for exc in (False, True):
    wire = handler.makePickle(rec(exc))
    mine = pickle.dumps(ref.prepare_record_dict(rec(exc)), 1)
    check(f"makePickle bytes exc={exc}", wire[4:], mine)
    check(f"makePickle length exc={exc}", int.from_bytes(wire[:4], "big"), len(mine))

# --- committed fixtures ---------------------------------------------------------
fx = os.path.join(ROOT, "test", "fixtures")
with open(os.path.join(fx, "decoder-cases.json"), encoding="utf-8") as f:
    decoder = json.load(f)
with open(os.path.join(fx, "refused-cases.json"), encoding="utf-8") as f:
    refused_cases = json.load(f)
for case in decoder:
    data = base64.b64decode(case["pickle"])
    label = f"{case['name']} p{case['protocol']}"
    if case["protocol"] >= 2:
        check(label + " PROTO", data[:2], bytes([0x80, case["protocol"]]))
    else:
        check(label + " no PROTO", data[:1] != b"\x80", True)
    check(label + " walker", ref.line_from_pickle(data), case["line"])
    check(label + " loads", ref.to_line(pickle.loads(data)), case["line"])
for case in refused_cases:
    check(case["name"], refused(ref.line_from_pickle, base64.b64decode(case["pickle"])), case["reason"])

if failures:
    print("\n".join(failures))
    print(f"FAILED: {len(failures)}")
    sys.exit(1)
print(f"ok: {len(values)} values x 6 protocols, {len(decoder)} decoder cases, "
      f"{len(refused_cases)} refused cases")
