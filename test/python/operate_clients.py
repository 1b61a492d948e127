#!/usr/bin/env python3
"""Clients for log-server's pm2, metrics and access-control tests (Python 3.11, stdlib only).

    operate_clients.py bursts HOST PORT TAG STOPFILE [BURST_MS [GAP_MS [PHASE_MS]]]
        Until STOPFILE exists (or 120 s pass): after PHASE_MS, bursts of records "TAG I" (extra tag, seq) sent as
        fast as possible for BURST_MS, then GAP_MS of silence, through a SocketHandler that reconnects quickly.
        Prints one JSON line {"sent": [seq...], "dropped": N, "connections": N}.

        "sent" holds exactly the records that went out on a live connection. SocketHandler alone cannot tell: a
        send into a connection the server has already closed succeeds (the bytes reach the kernel) and is lost.
        So before each send the client checks that the server has not closed the connection (the server never
        writes, so a readable socket means EOF or reset); if it has, the client reconnects first. A server that
        stops drains each connection until it has been quiet for 0.25 s, which happens inside a gap: every record
        of a burst is sent on a connection the server still reads. Records SocketHandler could not send (no
        server listening: between stop and start of a reload) are counted in "dropped", never in "sent".

    operate_clients.py from SOURCE HOST PORT TAG COUNT
        A plain TCP socket bound to SOURCE (e.g. 127.0.0.2; SocketHandler cannot choose its source address)
        sends COUNT frames made by SocketHandler.makePickle, records "TAG I", then closes its side and waits
        (bounded) for the server to close. Prints "sent COUNT BYTES".

    operate_clients.py plain HOST PORT TAG COUNT
        COUNT records "TAG I" through a stock SocketHandler (drops what it cannot send; never fails). Prints
        "attempted COUNT".
"""

import json
import logging
import logging.handlers
import os
import select
import socket
import sys
import time
from send_records import make_logger  # a sibling script: its directory is on sys.path


class LiveSocketHandler(logging.handlers.SocketHandler):
    """Reconnects before sending when the server has closed the connection; records which sends were live."""

    def __init__(self, host, port):
        super().__init__(host, port)
        self.retryStart = 0.05  # reconnect soon after a server restart
        self.retryMax = 0.2
        self.sent = []
        self.dropped = 0
        self.connections = 0
        self.current_seq = None

    def makeSocket(self, timeout=1):
        s = super().makeSocket(timeout)
        self.connections += 1
        return s

    def closed_by_server(self):
        readable, _, _ = select.select([self.sock], [], [], 0)
        if not readable:
            return False
        try:
            return self.sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
        except BlockingIOError:
            return False
        except OSError:
            return True

    def send(self, s):
        if self.sock is not None and self.closed_by_server():
            self.sock.close()
            self.sock = None
            self.retryTime = None  # connect again now, not after a backoff
        super().send(s)
        if self.sock is None:
            self.dropped += 1
        else:
            self.sent.append(self.current_seq)

    def emit(self, record):
        self.current_seq = record.seq
        super().emit(record)

    def handleError(self, record):
        self.dropped += 1


def cmd_bursts(host, port, tag, stopfile, burst_ms="300", gap_ms="700", phase_ms="0"):
    burst, gap = float(burst_ms) / 1000, float(gap_ms) / 1000
    h = LiveSocketHandler(host, int(port))
    log = make_logger(f"bursts.{tag}", h)
    time.sleep(float(phase_ms) / 1000)
    deadline = time.monotonic() + 120
    seq = 0
    while not os.path.exists(stopfile) and time.monotonic() < deadline:
        end = time.monotonic() + burst
        while time.monotonic() < end:
            log.info("%s %d", tag, seq, extra={"tag": tag, "seq": seq})
            seq += 1
            time.sleep(0.001)
        time.sleep(gap)
    h.close()
    print(json.dumps({"sent": h.sent, "dropped": h.dropped, "connections": h.connections}))


def cmd_from(source, host, port, tag, count):
    h = logging.handlers.SocketHandler(host, int(port))  # only for makePickle: never connects
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(5)
    s.bind((source, 0))
    s.connect((host, int(port)))
    sent = 0
    for i in range(int(count)):
        record = logging.makeLogRecord({"name": f"from.{tag}", "msg": f"{tag} {i}", "levelno": logging.INFO,
                                        "levelname": "INFO", "tag": tag, "seq": i})
        frame = h.makePickle(record)
        s.sendall(frame)
        sent += len(frame)
    s.shutdown(socket.SHUT_WR)
    try:
        while s.recv(4096):
            pass
    except OSError:
        pass
    s.close()
    print(f"sent {count} {sent}")


def cmd_plain(host, port, tag, count):
    h = logging.handlers.SocketHandler(host, int(port))
    log = make_logger(f"plain.{tag}", h)
    for i in range(int(count)):
        log.info("%s %d", tag, i, extra={"tag": tag, "seq": i})
    logging.shutdown()
    print(f"attempted {count}")


COMMANDS = {"bursts": cmd_bursts, "from": cmd_from, "plain": cmd_plain}

if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in COMMANDS:
        raise SystemExit(__doc__)
    COMMANDS[sys.argv[1]](*sys.argv[2:])
