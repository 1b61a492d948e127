#!/usr/bin/env python3
"""The baseline: the socket receiver of the CPython Logging Cookbook, writing JSON lines.

    python3 scripts/python-receiver.py [--host 127.0.0.1] --port 9020 --target logs.jsonl [--cookbook-recv]

This is the design of "Sending and receiving logging events across a network" in the Logging Cookbook
(https://docs.python.org/3/howto/logging-cookbook.html): a socketserver.ThreadingTCPServer (one thread per
connection) whose StreamRequestHandler reads a 4-byte big-endian length, then the pickle, unpickles it with
pickle.loads, rebuilds the record with logging.makeLogRecord and hands it to logger.handle(); the loop
serve_until_stopped() polls the listening socket with select() and a 1 s timeout and checks an abort flag.
It is kept as the cookbook has it, not optimised. Differences, all needed to use it as a benchmark baseline:

* The locally configured handler is a logging.FileHandler whose formatter writes the same JSON line as
  log-server: message, levelname, created, created_human (local time, milliseconds) first, then every other
  attribute of the rebuilt record in order, json.dumps(default=str), compact separators, UTF-8 as is
  (ensure_ascii=False) so the output is about the size of log-server's. FileHandler flushes after each
  record, as it does in any application using it.
* The length prefix is read until 4 bytes are there. The cookbook does ``chunk = recv(4); if len(chunk) < 4:
  break``, which ends the connection (and drops what follows) if a read returns the prefix in two pieces;
  --cookbook-recv restores that exact behaviour.
* SIGINT/SIGTERM set the cookbook's ``abort`` flag; then open connections get up to --drain-timeout seconds
  to finish, the rest are shut down for reading, the handler threads are joined, the file is flushed, fsynced
  and closed, and "stopped; wrote N records to FILE" is printed on stderr.

Prints "listening on HOST:PORT, writing /abs/FILE" on stderr once it listens (the real port when given 0).
Standard library only.
"""
from __future__ import annotations

import argparse
import datetime
import json
import logging
import logging.handlers
import os
import pickle
import select
import signal
import socket
import socketserver
import struct
import sys
import threading
import time

RESERVED = ("message", "levelname", "created", "created_human")
COOKBOOK_RECV = False


class LogRecordStreamHandler(socketserver.StreamRequestHandler):
    """Handler for a streaming logging request (the cookbook's, plus connection tracking for the stop)."""

    def setup(self):
        super().setup()
        with self.server.lock:
            self.server.active.add(self.connection)

    def finish(self):
        with self.server.lock:
            self.server.active.discard(self.connection)
        super().finish()

    def handle(self):
        """
        Handle multiple requests - each expected to be a 4-byte length,
        followed by the LogRecord in pickle format. Logs the record
        according to whatever policy is configured locally.
        """
        while True:
            chunk = self.connection.recv(4)
            if not COOKBOOK_RECV:
                while 0 < len(chunk) < 4:
                    more = self.connection.recv(4 - len(chunk))
                    if not more:
                        break
                    chunk = chunk + more
            if len(chunk) < 4:
                break
            slen = struct.unpack(">L", chunk)[0]
            chunk = self.connection.recv(slen)
            while len(chunk) < slen:
                more = self.connection.recv(slen - len(chunk))
                if not more:  # (the cookbook loops forever on a connection closed mid-frame)
                    return
                chunk = chunk + more
            obj = self.unPickle(chunk)
            record = logging.makeLogRecord(obj)
            self.handleLogRecord(record)

    def unPickle(self, data):
        return pickle.loads(data)

    def handleLogRecord(self, record):
        # if a name is specified, we use the named logger rather than the one
        # implied by the record.
        if self.server.logname is not None:
            name = self.server.logname
        else:
            name = record.name
        logger = logging.getLogger(name)
        # N.B. EVERY record gets logged. This is because Logger.handle
        # is normally called AFTER logger-level filtering. If you want
        # to do filtering, do it at the client end to save wasting
        # cycles and network bandwidth!
        logger.handle(record)


class LogRecordSocketReceiver(socketserver.ThreadingTCPServer):
    """
    Simple TCP socket-based logging receiver suitable for testing.
    """

    allow_reuse_address = True

    def __init__(self, host="localhost", port=logging.handlers.DEFAULT_TCP_LOGGING_PORT, handler=LogRecordStreamHandler):
        socketserver.ThreadingTCPServer.__init__(self, (host, port), handler)
        self.abort = 0
        self.timeout = 1
        self.logname = None
        self.lock = threading.Lock()
        self.active: set[socket.socket] = set()

    def serve_until_stopped(self):
        abort = 0
        while not abort:
            rd, wr, ex = select.select([self.socket.fileno()], [], [], self.timeout)
            if rd:
                self.handle_request()
            abort = self.abort


class JsonFormatter(logging.Formatter):
    """One JSON line per record: message, levelname, created, created_human, then the other attributes."""

    def format(self, record):
        d = record.__dict__
        out = {
            "message": record.getMessage(),
            "levelname": d.get("levelname"),
            "created": d.get("created"),
            "created_human": datetime.datetime.fromtimestamp(record.created).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3],
        }
        for k, v in d.items():
            if k not in RESERVED:
                out[k] = v
        return json.dumps(out, default=str, ensure_ascii=False, separators=(",", ":"))


class CountingFileHandler(logging.FileHandler):
    """logging.FileHandler that counts the records it wrote (emit runs under the handler's lock)."""

    written = 0

    def emit(self, record):
        super().emit(record)
        self.written += 1


def main() -> int:
    global COOKBOOK_RECV
    ap = argparse.ArgumentParser(description="Logging Cookbook socket receiver writing JSON lines (benchmark baseline)")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=logging.handlers.DEFAULT_TCP_LOGGING_PORT)
    ap.add_argument("--target", default="logs.jsonl")
    ap.add_argument("--drain-timeout", type=float, default=10.0, help="seconds open connections get on stop")
    ap.add_argument("--cookbook-recv", action="store_true", help="treat a short recv(4) as end of connection, as the cookbook does")
    args = ap.parse_args()
    COOKBOOK_RECV = args.cookbook_recv

    target = os.path.abspath(args.target)
    handler = CountingFileHandler(target, mode="a", encoding="utf-8")
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.addHandler(handler)

    tcpserver = LogRecordSocketReceiver(args.host, args.port)

    def on_signal(signum, frame):
        tcpserver.abort = 1

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    host, port = tcpserver.server_address[:2]
    print(f"listening on {host}:{port}, writing {target}", file=sys.stderr, flush=True)
    tcpserver.serve_until_stopped()

    # stop: let open connections finish, then cut them off for reading; join the handler threads
    end = time.monotonic() + args.drain_timeout
    while time.monotonic() < end:
        with tcpserver.lock:
            if not tcpserver.active:
                break
        time.sleep(0.02)
    with tcpserver.lock:
        left = list(tcpserver.active)
    for conn in left:
        try:
            conn.shutdown(socket.SHUT_RD)
        except OSError:
            pass
    tcpserver.server_close()  # joins the handler threads (block_on_close)
    handler.acquire()
    try:
        handler.flush()
        if handler.stream is not None:
            os.fsync(handler.stream.fileno())
    finally:
        handler.release()
    handler.close()
    print(f"stopped; wrote {handler.written} records to {target}", file=sys.stderr, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
