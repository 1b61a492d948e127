#!/usr/bin/env python3
"""Senders for log-server's UDP and HTTP input tests (Python 3.8 or later, stdlib only), through the real
logging.handlers.DatagramHandler and logging.handlers.HTTPHandler. Any error the handler reports (handleError)
ends the process with exit code 3.

    other_handlers.py dual HOST PORT EXPECTED
        the records of `send_records.py kinds`, each through a SocketHandler and a DatagramHandler on one logger
        (both pickle the same bytes); the expected line of each record (once) to EXPECTED.
    other_handlers.py udp-burst HOST PORT COUNT BATCH PAUSE_MS
        COUNT records "udp record I" (extra seq=I) through one DatagramHandler, pausing PAUSE_MS after every
        BATCH records (BATCH 0: no pause).
    other_handlers.py udp-big HOST PORT SIZE
        one record whose message is SIZE characters "x" through a DatagramHandler.
    other_handlers.py http HOST:PORT PATH METHOD RECORDS EXPECTED [--auth USER:PASSWORD] [--merged]
        RECORDS is `kinds` (records of many shapes) or a count of plain records; the line log-server must write
        for each (computed here from what HTTPHandler sends) to EXPECTED (`-`: none). --merged uses the
        MergedHTTPHandler class shown in README.md (its code is read from there). Prints a JSON object with
        the HTTP status of every answer: {"200": 5}.
"""

import collections
import http.client
import json
import logging
import logging.handlers
import os
import re
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(ROOT, "scripts"))
sys.path.insert(0, HERE)

import reference_line as ref  # noqa: E402
import send_records  # noqa: E402


def fail(record_or_none=None):
    exc = sys.exc_info()[1]
    sys.stderr.write(f"other_handlers.py: handler error: {exc!r}\n")
    os._exit(3)


class CheckedDatagramHandler(logging.handlers.DatagramHandler):
    """The stock DatagramHandler; errors end the process; optionally a pause after every `batch` sends."""

    def __init__(self, host, port, batch=0, pause_ms=0):
        super().__init__(host, port)
        self.batch, self.pause, self.sent = batch, pause_ms / 1000, 0

    def send(self, s):
        super().send(s)
        self.sent += 1
        if self.batch and self.sent % self.batch == 0:
            time.sleep(self.pause)

    def handleError(self, record):
        fail()


def cmd_dual(host, port, expected_path):
    """send_records.kinds with a DatagramHandler added to its logger next to its SocketHandler."""
    dgram = CheckedDatagramHandler(host, int(port), batch=5, pause_ms=2)
    make_logger = send_records.make_logger

    def make_both(name, handler):
        log = make_logger(name, handler)
        log.addHandler(dgram)
        return log

    send_records.make_logger = make_both
    send_records.cmd_kinds(host, port, expected_path)
    dgram.close()


def cmd_udp_burst(host, port, count, batch, pause_ms):
    h = CheckedDatagramHandler(host, int(port), int(batch), float(pause_ms))
    log = send_records.make_logger("udp.burst", h)
    for i in range(int(count)):
        log.info("udp record %d", i, extra={"seq": i})
    h.close()
    print(h.sent)


def cmd_udp_big(host, port, size):
    h = CheckedDatagramHandler(host, int(port))
    log = send_records.make_logger("udp.big", h)
    log.info("x" * int(size))
    h.close()


# What log-server does with the text HTTPHandler sends (README "Other Python handlers"), written again here.
NUMERIC = {"created", "msecs", "relativeCreated", "levelno", "lineno", "thread", "process"}
NONE_FIELDS = {"args", "exc_info", "exc_text", "stack_info", "thread", "threadName", "process", "processName",
               "taskName"}


def from_text(key, text):
    if text == "None" and key in NONE_FIELDS:
        return None
    if key in NUMERIC:
        if re.fullmatch(r"-?\d+", text):
            return int(text)
        if re.fullmatch(r"-?\d+(\.\d+)?([eE][+-]?\d+)?", text) or text in ("nan", "inf", "-inf"):
            return float(text)
    return text


def expected_http_line(sent):
    """The line for the dict HTTPHandler urlencodes: every value as str() (bytes are not used here)."""
    d = {k: from_text(k, v if isinstance(v, str) else str(v)) for k, v in sent.items()}
    line = ref.to_line(d, utc=True)
    if "message" in d:
        head = '{"message":' + ref._jstr(d.get("msg", "")) + ","
        assert line.startswith(head), line[:200]
        line = '{"message":' + ref._jstr(d["message"]) + "," + line[len(head):]
    return line


def readme_snippet():
    text = open(os.path.join(ROOT, "README.md"), encoding="utf-8").read()
    for block in re.findall(r"```python\n(.*?)```", text, re.S):
        if "class MergedHTTPHandler" in block:
            return block
    raise SystemExit("README.md has no python block with class MergedHTTPHandler")


def cmd_http(hostport, path, method, records, expected_path, *flags):
    auth = None
    merged = False
    rest = list(flags)
    while rest:
        flag = rest.pop(0)
        if flag == "--auth":
            user, _, pw = rest.pop(0).partition(":")
            auth = (user, pw)
        elif flag == "--merged":
            merged = True
        else:
            raise SystemExit(f"unknown flag {flag}")
    base = logging.handlers.HTTPHandler
    if merged:
        scope = {"logging": logging}
        exec(readme_snippet(), scope)
        base = scope["MergedHTTPHandler"]
    statuses = collections.Counter()
    expected = []

    class Connection(http.client.HTTPConnection):
        def getresponse(self):
            r = super().getresponse()
            statuses[str(r.status)] += 1
            r.read()
            return r

    class Recording(base):
        def emit(self, record):
            # Every answer through Connection: HTTPHandler makes its connection with http.client.HTTPConnection
            # (inline before 3.9, in getConnection from 3.9 on), so that name is swapped while it emits.
            real = http.client.HTTPConnection
            http.client.HTTPConnection = Connection
            try:
                super().emit(record)
            finally:
                http.client.HTTPConnection = real

        def mapLogRecord(self, record):
            d = super().mapLogRecord(record)
            expected.append(expected_http_line(d))
            return d

        def handleError(self, record):
            fail()

    h = Recording(hostport, path, method, secure=False, credentials=auth)
    log = send_records.make_logger("http.app", h)
    if records == "kinds":
        log.addFilter(send_records.SetCreated({"fixed created": 1695651604.501}))
        log.info("fixed created")
        log.info("plain %s %d", "args", 42, extra={"user_id": 1234, "big": 2**70, "none": None, "flag": True,
                                                    "ratio": 0.5})
        log.info("unicode 🎉 日本語 \u2028 & = + %% ? # \"q\" back\\slash \x01 tab\tnl\n end", extra={"amp": "a&b=c"})
        log.info("%(a)s and %(b)s", {"a": 1, "b": "two"})
        try:
            {}["missing"]
        except KeyError:
            log.exception("with traceback %s", "here")
        log.warning("with stack", stack_info=True)
        logging.logThreads = False
        log.error("no thread")
        logging.logThreads = True
        log.info("fixed created")
    else:
        for i in range(int(records)):
            log.info("http record %d", i, extra={"seq": i})
    h.close()
    if expected_path != "-":
        send_records.write_expected(expected_path, expected)
    print(json.dumps(dict(statuses)))


COMMANDS = {"dual": cmd_dual, "udp-burst": cmd_udp_burst, "udp-big": cmd_udp_big, "http": cmd_http}

if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in COMMANDS:
        raise SystemExit(__doc__)
    COMMANDS[sys.argv[1]](*sys.argv[2:])
