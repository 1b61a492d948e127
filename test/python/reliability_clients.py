#!/usr/bin/env python3
"""Clients for log-server's reliability and hostile-input tests (Python 3.11, stdlib only).

Every sender goes through a real logging.handlers.SocketHandler.

    reliability_clients.py numbered HOST PORT TAG COUNT [PAD [INTERVAL_MS [TIMEOUT]]]
        COUNT records "TAG I" with extra={"tag": TAG, "seq": I, "pad": "x" * PAD}, I = 0..COUNT-1, as fast as
        possible (or INTERVAL_MS apart). Strict: exits 3 on the first error SocketHandler reports (it would
        otherwise drop the record silently), 4 if it sent fewer than COUNT. Prints the number sent.
        TIMEOUT is the socket timeout in seconds (SocketHandler's own is 1: a send blocked by TCP backpressure
        for longer fails and the record is dropped); "none" blocks for as long as the server holds it back.
    reliability_clients.py load HOST PORT TAG SECONDS
        records "TAG I" (extra tag, seq) as fast as possible for SECONDS, through a plain SocketHandler that drops
        what it cannot send and reconnects by itself (a client of a server whose worker may be killed).
        Prints "attempted N".
    reliability_clients.py bomb
        prints base64 of a protocol-2 pickle of a record dict whose `big` field is the same 100,000-character
        str 200 times over (memoized once: a ~100 KB pickle that becomes a 20 MB line, a "memo bomb").
"""

import base64
import logging
import logging.handlers
import pickle
import sys
import time
from send_records import FailingSocketHandler, make_logger  # sibling script: its directory is on sys.path


class StrictSocketHandler(FailingSocketHandler):
    """Every send error is fatal (exit 3) instead of a silently dropped record; counts what was sent; and the
    socket timeout is settable (SocketHandler's is 1 s)."""

    def __init__(self, host, port, timeout=1.0):
        super().__init__(host, port)
        self.socket_timeout = timeout

    def makeSocket(self, timeout=1):
        return super().makeSocket(timeout=self.socket_timeout)


def cmd_numbered(host, port, tag, count, pad="0", interval_ms="0", timeout="1"):
    count, pad, interval = int(count), int(pad), float(interval_ms) / 1000.0
    h = StrictSocketHandler(host, int(port), None if timeout == "none" else float(timeout))
    log = make_logger(f"numbered.{tag}", h)
    filler = "x" * pad
    for i in range(count):
        log.info("%s %d", tag, i, extra={"tag": tag, "seq": i, "pad": filler})
        if interval:
            time.sleep(interval)
    logging.shutdown()
    if h.sent != count:
        sys.stderr.write(f"reliability_clients.py: sent {h.sent} records, meant {count}\n")
        sys.exit(4)
    print(h.sent)


def cmd_load(host, port, tag, seconds):
    h = logging.handlers.SocketHandler(host, int(port))
    h.retryStart = 0.05  # reconnect soon after the server closed the connection
    h.retryMax = 0.2
    log = make_logger(f"load.{tag}", h)
    end = time.monotonic() + float(seconds)
    i = 0
    while time.monotonic() < end:
        log.info("%s %d", tag, i, extra={"tag": tag, "seq": i})
        i += 1
    logging.shutdown()
    print(f"attempted {i}")


def cmd_bomb():
    s = "x" * 100_000
    record = {"name": "bomb", "msg": "memo bomb", "args": None, "levelname": "INFO", "levelno": 20,
              "created": 1695651604.501, "big": [s] * 200}
    print(base64.b64encode(pickle.dumps(record, 2)).decode("ascii"))


COMMANDS = {"numbered": cmd_numbered, "load": cmd_load, "bomb": cmd_bomb}

if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in COMMANDS:
        raise SystemExit(__doc__)
    COMMANDS[sys.argv[1]](*sys.argv[2:])
