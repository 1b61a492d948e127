#!/usr/bin/env python3
"""One real Python client for the load test: logs --count records through a real logging.handlers.SocketHandler.

    python3 scripts/python-client.py --host 127.0.0.1 --port 9020 --count 50000 [--seed 7] [--tag-base 0] [--tag]

The records are the same kind as the corpus (make-corpus.py's generate()). With --tag each record's lt_tag is
"@lt:" + 12 hex digits of tag-base + i, so the load test can check that each record arrived exactly once;
without it the placeholder is sent.

Protocol with scripts/loadtest.ts: after connecting, prints one line "ready" on stdout and waits for one line on
stdin; then logs, closes the handler and prints one JSON line {"records", "bytes", "seconds", "dropped"}.
Standard library only.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import logging
import logging.handlers
import os
import sys
import time

_spec = importlib.util.spec_from_file_location("make_corpus", os.path.join(os.path.dirname(os.path.abspath(__file__)), "make-corpus.py"))
make_corpus = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(make_corpus)


class CountingSocketHandler(logging.handlers.SocketHandler):
    """A plain SocketHandler that also counts the bytes it sends and the records it drops (connection down)."""

    def __init__(self, host, port):
        super().__init__(host, port)
        self.bytes = 0
        self.dropped = 0

    def send(self, s):
        super().send(s)
        if self.sock is None:  # SocketHandler drops the record silently when it cannot (re)connect or send
            self.dropped += 1
        else:
            self.bytes += len(s)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--count", type=int, required=True)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--tag-base", type=int, default=0)
    ap.add_argument("--tag", action="store_true", help="give every record a unique lt_tag")
    args = ap.parse_args()

    handler = CountingSocketHandler(args.host, args.port)
    handler.sock = handler.makeSocket()  # connect now, so the timed part is only logging
    root = logging.getLogger()
    root.setLevel(logging.DEBUG)
    root.addHandler(handler)
    tag = (lambda i: "@lt:%012x" % (args.tag_base + i)) if args.tag else (lambda i: make_corpus.TAG_PLACEHOLDER)

    print("ready", flush=True)
    sys.stdin.readline()
    t0 = time.perf_counter()
    make_corpus.generate(root, args.count, args.seed, tag)
    handler.close()
    seconds = time.perf_counter() - t0
    print(json.dumps({"records": args.count - handler.dropped, "bytes": handler.bytes, "seconds": seconds,
                      "dropped": handler.dropped}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
