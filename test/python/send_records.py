#!/usr/bin/env python3
"""Senders for log-server's end-to-end tests (Python 3.11, stdlib only).

Every command sends through a real logging.handlers.SocketHandler and exits non-zero if the handler
reported an error (SocketHandler otherwise drops records silently when it cannot connect or send).

    send_records.py burst HOST PORT CLIENT COUNT
        COUNT records "client CLIENT record I" with extra={"client": CLIENT, "seq": I}, I = 0..COUNT-1.
    send_records.py kinds HOST PORT EXPECTED
        records with many kinds of values; writes the line log-server must write for each one
        (scripts/reference_line.py, utc=True) to EXPECTED, one per line, in sending order.
    send_records.py big HOST PORT EXPECTED SIZE
        a small record, one whose message is SIZE characters (mixed ASCII, escapes, multi-byte), a small record;
        expected lines to EXPECTED as for `kinds`.
    send_records.py plain HOST PORT COUNT [PREFIX]
        COUNT records "PREFIX I" (default prefix "record").
    send_records.py levels HOST PORT [TAG]
        five records for `log-server tail`: app.db DEBUG with an extra, app.web INFO with extras, other WARNING,
        app.db ERROR with a traceback, app.web CRITICAL with stack_info; each message ends with TAG (default "").
    send_records.py check-json FILE
        every line of FILE must parse with json.loads as strict JSON (no NaN/Infinity literals) into a dict;
        prints the number of lines.
"""

import datetime
import decimal
import json
import logging
import logging.handlers
import math
import os
import sys
import uuid

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.dont_write_bytecode = True  # leave no __pycache__ in scripts/
sys.path.insert(0, os.path.join(ROOT, "scripts"))

import reference_line as ref  # noqa: E402


class FailingSocketHandler(logging.handlers.SocketHandler):
    """A SocketHandler that makes errors visible instead of dropping records, and can record the expected line
    of every record it pickles."""

    def __init__(self, host, port, expected=None):
        super().__init__(host, port)
        self.expected = expected  # list of lines, or None
        self.sent = 0

    def makePickle(self, record):
        if self.expected is not None:
            line = ref.to_line(ref.prepare_record_dict(record), utc=True)
            data = super().makePickle(record)
            # The server only sees the pickle: the reference's own decoder must agree with to_line.
            from_pickle = ref.line_from_pickle(data[4:], utc=True)
            if from_pickle != line:
                raise AssertionError(f"reference disagrees with itself:\n to_line {line[:300]}\n walker  {from_pickle[:300]}")
            self.expected.append(line)
            return data
        return super().makePickle(record)

    def send(self, s):
        super().send(s)
        if self.sock is None:
            raise OSError("SocketHandler could not send (no connection)")
        self.sent += 1

    def handleError(self, record):
        # SocketHandler.handleError closes the socket and goes on; a test must not lose records silently.
        exc = sys.exc_info()[1]
        sys.stderr.write(f"{os.path.basename(sys.argv[0])}: SocketHandler error: {exc!r}\n")
        sys.stderr.flush()
        os._exit(3)


def make_logger(name, handler):
    logger = logging.getLogger(name)
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    logger.addHandler(handler)
    return logger


def finish(handler, want):
    handler.close()
    if handler.sent != want:
        sys.stderr.write(f"send_records.py: sent {handler.sent} records, meant {want}\n")
        sys.exit(4)


def cmd_burst(host, port, client, count):
    client, count = int(client), int(count)
    h = FailingSocketHandler(host, int(port))
    log = make_logger(f"burst.{client}", h)
    for i in range(count):
        log.info("client %d record %d", client, i, extra={"client": client, "seq": i})
    finish(h, count)


def cmd_plain(host, port, count, prefix="record"):
    count = int(count)
    h = FailingSocketHandler(host, int(port))
    log = make_logger("plain", h)
    for i in range(count):
        log.info("%s %d", prefix, i)
    finish(h, count)


class SetCreated(logging.Filter):
    """Sets `created` of records whose msg is in the mapping."""

    def __init__(self, created_by_msg):
        super().__init__()
        self.created_by_msg = created_by_msg

    def filter(self, record):
        if record.msg in self.created_by_msg:
            record.created = self.created_by_msg[record.msg]
        return True


def write_expected(path, lines):
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        for line in lines:
            f.write(line + "\n")


# The server has several decoders (a bytes-to-bytes transcoder for flat records of scalars, a fast decoder for
# plain data, a general one for everything else) and picks one by the record's shape: every group of values
# below is sent three times, so that each path sees it.
VARIANTS = (
    ("flat", {}),
    ("container", {"force_container": [0]}),
    ("object", {"force_object": uuid.UUID("00000000-0000-4000-8000-000000000001")}),
)


def cmd_kinds(host, port, expected_path):
    expected = []
    h = FailingSocketHandler(host, int(port), expected)
    log = make_logger("kinds.app", h)
    log.addFilter(SetCreated({"fixed created": 1695651604.501}))

    tz530 = datetime.timezone(datetime.timedelta(hours=5, minutes=30))
    n = 0

    def info(msg, *args, **kw):
        nonlocal n
        log.info(msg, *args, **kw)
        n += 1

    def each_variant(msg, extra, *args, level=logging.INFO, **kw):
        nonlocal n
        for name, more in VARIANTS:
            log.log(level, msg + " [" + name + "]", *args, extra={**extra, **more}, **kw)
            n += 1

    info("fixed created")
    each_variant("ints", {"big": 2**70, "neg_big": -(2**70), "above_2_53": 2**53 + 1, "i64min": -(2**63),
                          "u64": 2**64, "zero": 0, "small": -7, "i32max": 2**31 - 1, "i32min": -(2**31)})
    each_variant("floats", {"neg_zero": -0.0, "one": 1.0, "tiny": 1e-05, "nan": math.nan, "inf": math.inf,
                            "ninf": -math.inf, "e16": 1e16, "denormal": 5e-324, "sum": 0.1 + 0.2,
                            "third": 1 / 3, "big_float": 1.7976931348623157e308})
    each_variant("unicode 🎉 日本語 \u2028 \u2029 \"quoted\" 'single' back\\slash \x00\x01\x1f\x7f tab\tnl\n end",
                 {"emoji": "🎉👩‍👩‍👧", "cjk": "日本語テキスト", "seps": "a\u2028b\u2029c",
                  "quotes": "\"'`", "ctrl": "".join(chr(c) for c in range(32)) + "\x7f",
                  "nonbmp": "\U0001F600\U00010348", "combining": "e\u0301", "c1": "\x80\x9f\xa0\xff",
                  "bom": "\ufeff", "bom_first": "\ufeffstarts with a BOM", "bom_inside": "a\ufeffb",
                  "\ufeffbom_key": 1, "lone": "\ud7ff\ue000\uffff"})
    each_variant("\ufeffa message that starts with a BOM", {})
    each_variant("args %s %d %r %5.2f", {}, "s", 42, ("t", 1), 3.14159)
    each_variant("bytes", {"raw": b"\xff\x00abc", "utf8": "café".encode(), "empty": b"",
                           "ba": bytearray(b"xy\x80"), "bom_bytes": b"\xef\xbb\xbfB"})
    each_variant("dates", {"naive": datetime.datetime(2023, 9, 25, 14, 20, 4, 501000),
                           "aware": datetime.datetime(2023, 9, 25, tzinfo=datetime.timezone.utc),
                           "india": datetime.datetime(2023, 1, 2, 3, 4, 5, tzinfo=tz530),
                           "date": datetime.date(2024, 2, 29), "time": datetime.time(1, 2, 3, 4),
                           "delta": datetime.timedelta(days=1, seconds=2)})
    each_variant("decimal uuid", {"dec": decimal.Decimal("1.10"), "dec_neg": decimal.Decimal("-0.000001"),
                                  "dec_nan": decimal.Decimal("NaN"),
                                  "uuid": uuid.UUID("12345678-1234-5678-1234-567812345678")})
    each_variant("containers", {"set": {1, 2, 3}, "frozen": frozenset({"only"}), "tuple": (1, (2, 3), []),
                                "list": [None, True, False, 1.5, "x"],
                                "nested": {"a": {"b": {"c": [1, {"d": None}]}}, 1: "int key", 2.5: "float key",
                                           None: "none key", (1, 2): "tuple key", False: "bool key"},
                                "empty_dict": {}, "empty_list": []})
    each_variant("js names", {"__proto__": {"polluted": True}, "constructor": "c", "toString": {"a": 1},
                              "hasOwnProperty": None, "valueOf": 0,
                              "nested_proto": {"__proto__": {"x": 1}, "constructor": {"prototype": 2}}})
    try:
        {}["missing"]
    except KeyError:
        each_variant("with traceback %s", {"order_id": 1042}, "here", level=logging.ERROR, exc_info=True)
    each_variant("with stack", {}, stack_info=True)
    log.warning("a warning %s", "W")
    log.error("an error")
    n += 2
    info("fixed created")
    finish(h, n)
    write_expected(expected_path, expected)


def cmd_big(host, port, expected_path, size):
    size = int(size)
    expected = []
    h = FailingSocketHandler(host, int(port), expected)
    log = make_logger("big.app", h)
    unit = "abcdefghij0123456789 \"quote\" back\\slash é日🎉\n\t\u2028"
    msg = (unit * (size // len(unit) + 1))[:size]
    log.info("before the big record")
    log.info(msg)
    log.info("after the big record")
    finish(h, 3)
    write_expected(expected_path, expected)


def cmd_levels(host, port, tag=""):
    h = FailingSocketHandler(host, int(port))
    db, web, other = make_logger("app.db", h), make_logger("app.web", h), make_logger("other", h)
    db.debug("debug one%s", tag, extra={"query_ms": 12})
    web.info("request done%s", tag, extra={"path": "/x y", "status": 200})
    other.warning("disk almost full%s", tag, extra={"free": 0.05})
    try:
        1 / 0
    except ZeroDivisionError:
        db.error("failed%s", tag, exc_info=True)
    web.critical("down%s", tag, stack_info=True)
    finish(h, 5)


def reject_constant(name):
    raise ValueError(f"non-JSON constant {name}")


def cmd_check_json(path):
    n = 0
    with open(path, "rb") as f:
        data = f.read()
    text = data.decode("utf-8")  # strict: invalid UTF-8 fails
    if text and not text.endswith("\n"):
        raise SystemExit(f"{path}: does not end with a newline")
    for i, line in enumerate(text.split("\n")[:-1] if text else []):
        try:
            v = json.loads(line, parse_constant=reject_constant)
        except ValueError as e:
            raise SystemExit(f"{path}:{i + 1}: not strict JSON: {e}: {line[:200]!r}")
        if type(v) is not dict:
            raise SystemExit(f"{path}:{i + 1}: not an object: {line[:200]!r}")
        n += 1
    print(n)


COMMANDS = {"burst": cmd_burst, "kinds": cmd_kinds, "big": cmd_big, "plain": cmd_plain,
            "check-json": cmd_check_json, "levels": cmd_levels}

if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in COMMANDS:
        raise SystemExit(__doc__)
    COMMANDS[sys.argv[1]](*sys.argv[2:])
