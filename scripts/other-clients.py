#!/usr/bin/env python3
"""Load clients for the UDP and HTTP inputs: the stock logging.handlers.DatagramHandler and HTTPHandler, sending
as fast as they can (used by scripts/bench-inputs.ts).

    other-clients.py udp HOST PORT COUNT [RATE]
    other-clients.py http HOST:PORT PATH GET|POST COUNT [RATE]

RATE: records per second at most (checked every 100 records); default: as fast as the handler goes.

Prints one JSON line: {"sent": N, "errors": E, "seconds": S} (errors: records the handler reported failing).
"""
import json
import logging
import logging.handlers
import sys
import time


def run(handler, count, rate=0.0):
    errors = 0

    def count_error(record):
        nonlocal errors
        errors += 1

    handler.handleError = count_error
    log = logging.getLogger("bench.inputs")
    log.propagate = False
    log.setLevel(logging.INFO)
    log.addHandler(handler)
    t0 = time.perf_counter()
    for i in range(count):
        if rate and i % 100 == 0:
            ahead = t0 + i / rate - time.perf_counter()
            if ahead > 0:
                time.sleep(ahead)
        log.info("Processing item %d", i, extra={"user_id": 1234, "operation": "process_item", "seq": i})
    seconds = time.perf_counter() - t0
    handler.close()
    print(json.dumps({"sent": count - errors, "errors": errors, "seconds": seconds}))


if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in ("udp", "http"):
        raise SystemExit(__doc__)
    if sys.argv[1] == "udp":
        host, port, count, *rate = sys.argv[2:]
        run(logging.handlers.DatagramHandler(host, int(port)), int(count), float(rate[0]) if rate else 0.0)
    else:
        hostport, path, method, count, *rate = sys.argv[2:]
        run(logging.handlers.HTTPHandler(hostport, path, method), int(count), float(rate[0]) if rate else 0.0)
