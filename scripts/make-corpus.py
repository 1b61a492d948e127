#!/usr/bin/env python3
"""Records a corpus of REAL logging.handlers.SocketHandler frames for the load test and the benchmark.

    python3 scripts/make-corpus.py [--out bench/corpus.bin] [--count 10000] [--seed 1]

Each record is made by a real ``logging.Logger`` call (``logger.log(level, msg, *args, extra=..., exc_info=...)``)
and serialised with ``logging.handlers.SocketHandler('x', 0).makePickle(record)``: exactly the bytes a
SocketHandler puts on the wire (4-byte big-endian length + pickle protocol 1 of the record dict). The frames
are written one after the other to the output file.

The mix (deterministic for a given --seed): short and long messages with %-args; several extras of mixed
types per record (int, float, str, bool, None, a nested dict, a list); about 3% with a traceback from a
really raised exception (often chained); about 10% with non-ASCII text (emoji, CJK, accented Latin).

Every record also carries ``lt_tag = "@lt:????????????"`` (16 characters, a placeholder). The load test
overwrites the 12 '?' in place with a unique hex sequence number when it needs to follow individual records
(latency percentiles, --verify); in the plain throughput mode the placeholder is sent unchanged.

``generate()`` is also used by scripts/python-client.py, so real Python clients log the same kind of records.
"""
from __future__ import annotations

import argparse
import logging
import logging.handlers
import os
import random
import sys

TAG_PREFIX = "@lt:"
TAG_PLACEHOLDER = TAG_PREFIX + "?" * 12

LOGGERS = ["app", "app.http", "app.http.access", "app.db", "app.db.pool", "app.worker", "app.cache",
           "payments.gateway", "payments.ledger", "auth.session", "search.indexer", "mail.outbox"]
PATHS = ["/api/v1/orders", "/api/v1/orders/{id}", "/api/v1/users/{id}/profile", "/healthz", "/login",
         "/api/v2/search", "/static/app.js", "/api/v1/payments/{id}/capture", "/admin/reports/daily"]
METHODS = ["GET", "GET", "GET", "POST", "PUT", "DELETE", "PATCH"]
WORDS = ("request handled user order payment cache miss hit retry timeout connection pool database query "
         "index shard replica leader follower commit rollback session token refresh expired invalid upstream "
         "downstream latency budget exceeded queue backlog worker spawned finished scheduled batch flush").split()
UNICODE = ["Zoë Saldaña", "François Müller", "Ångström Ørsted", "Łukasz Żółć", "東京都渋谷区", "北京市朝阳区",
           "서울특별시", "Привет, мир", "مرحبا بالعالم", "🚀 deploy finished 🎉", "café ☕ crème brûlée",
           "naïve façade résumé", "温度 23.5°C ✓", "⚠️ 警告: ディスク容量", "👩‍💻 pair-programming session"]
LEVELS = [logging.DEBUG] * 15 + [logging.INFO] * 60 + [logging.WARNING] * 15 + [logging.ERROR] * 8 + [logging.CRITICAL] * 2


class PaymentError(RuntimeError):
    pass


def _charge(amount: float, currency: str) -> float:
    if amount > 0:
        raise PaymentError(f"card declined: amount={amount:.2f} {currency} (issuer code 51)")
    return amount


def _lookup_user(users: dict, uid: int) -> dict:
    return users[uid]


def _parse_port(text: str) -> int:
    return int(text)


def _divide(a: int, b: int) -> float:
    return a / b


def _raise_something(rng: random.Random) -> None:
    """Raises one of a few realistic exceptions from a few frames deep (some chained)."""
    kind = rng.randrange(4)
    if kind == 0:
        _lookup_user({1: {"name": "a"}}, rng.randrange(1000, 99999))
    elif kind == 1:
        _parse_port("80" + rng.choice(["x", "a1", "-", ".."]))
    elif kind == 2:
        try:
            _divide(rng.randrange(100), 0)
        except ZeroDivisionError as e:
            raise ValueError(f"could not compute ratio for batch {rng.randrange(10**6)}") from e
    else:
        try:
            _charge(rng.uniform(1, 500), rng.choice(["EUR", "USD", "JPY"]))
        except PaymentError as e:
            raise RuntimeError("payment step failed; order left pending") from e


def _sentence(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n))


def _extras(rng: random.Random, i: int, tag: str) -> dict:
    """Several extras of mixed types, as applications pass them with extra={...}: str, int, float, a nested
    dict, a list, sometimes bool/None/unicode."""
    method = rng.choice(METHODS)
    path = rng.choice(PATHS).replace("{id}", str(rng.randrange(1, 10**6)))
    extra = {
        "request_id": "%08x" % rng.getrandbits(32),
        "user_id": rng.randrange(1, 2_000_000),
        "duration_ms": round(rng.lognormvariate(2.5, 1.0), 3),
        "http": {"method": method, "status": rng.choice([200, 200, 200, 201, 204, 301, 400, 404, 500])},
        "path": path,
        "tags": rng.sample(["web", "api", "canary", "eu", "blue", "green", "batch", "retry"], rng.randrange(1, 3)),
        "lt_tag": tag,
    }
    r = rng.random()
    if r < 0.15:
        extra["cache_hit"] = rng.random() < 0.5
    elif r < 0.25:
        extra["shard"] = None if rng.random() < 0.3 else rng.randrange(16)
    elif r < 0.35:
        extra["customer"] = rng.choice(UNICODE)
    return extra


def generate(logger: logging.Logger, count: int, seed: int = 1, tag=lambda i: TAG_PLACEHOLDER) -> None:
    """Logs ``count`` realistic records through ``logger`` (its handlers do the rest)."""
    rng = random.Random(seed)
    for i in range(count):
        level = rng.choice(LEVELS)
        extra = _extras(rng, i, tag(i))
        lg = logging.getLogger(rng.choice(LOGGERS)) if logger.name == "root" else logger.getChild(rng.choice(LOGGERS))
        r = rng.random()
        if r < 0.03:
            try:
                _raise_something(rng)
            except Exception:
                lg.log(logging.ERROR, "unhandled error while processing %s %s (order %d)",
                       extra["http"]["method"], extra["path"], rng.randrange(10**7), exc_info=True, extra=extra)
            continue
        if r < 0.13:
            lg.log(level, "%s: %s — %s", rng.choice(UNICODE), _sentence(rng, rng.randrange(3, 9)), rng.choice(UNICODE), extra=extra)
        elif r < 0.45:
            lg.log(level, "%s %s %d in %.1f ms", extra["http"]["method"], extra["path"], extra["http"]["status"],
                   extra["duration_ms"], extra=extra)
        elif r < 0.65:
            lg.log(level, "cache %s for key=%r (ttl=%ds)", rng.choice(["hit", "miss", "stale"]),
                   "user:%d:profile" % extra["user_id"], rng.randrange(10, 3600), extra=extra)
        elif r < 0.80:
            lg.log(level, "worker %d finished job %s: %d items, %d failed, %.2f%% done", rng.randrange(64),
                   "job-%06d" % rng.randrange(10**6), rng.randrange(10**5), rng.randrange(100), rng.uniform(0, 100), extra=extra)
        elif r < 0.92:
            lg.log(level, rng.choice(["started", "ok", "shutting down", "ready"]), extra=extra)  # short message, no args
        else:
            # Long message: a paragraph plus a dumped structure, the kind of thing people do log.
            lg.log(level, "slow request; details: %s; payload=%s", _sentence(rng, rng.randrange(30, 80)),
                   {"items": [{"sku": "SKU-%05d" % rng.randrange(10**5), "qty": rng.randrange(1, 9)} for _ in range(rng.randrange(2, 8))]},
                   extra=extra)


class _Capture(logging.Handler):
    """Turns each record into the exact SocketHandler frame and appends it to a file."""

    def __init__(self, out):
        super().__init__(logging.NOTSET)
        self.out = out
        self.sock = logging.handlers.SocketHandler("x", 0)  # never connects: only makePickle is used
        self.count = 0
        self.bytes = 0
        self.sizes: list[int] = []

    def emit(self, record):
        frame = self.sock.makePickle(record)
        if TAG_PLACEHOLDER.encode() not in frame:
            raise AssertionError("tag placeholder missing from a frame")
        self.out.write(frame)
        self.count += 1
        self.bytes += len(frame)
        self.sizes.append(len(frame))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=os.path.join("bench", "corpus.bin"), help="corpus file (default bench/corpus.bin)")
    ap.add_argument("--count", type=int, default=10000, help="distinct records (default 10000)")
    ap.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    args = ap.parse_args()
    if args.count < 1:
        ap.error("--count must be at least 1")
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    logger = logging.getLogger()  # the root: records come from loggers "app.http", "payments.gateway", ...
    logger.setLevel(logging.DEBUG)
    tmp = args.out + ".tmp"
    with open(tmp, "wb") as out:
        cap = _Capture(out)
        logger.addHandler(cap)
        generate(logger, args.count, args.seed)
        logger.removeHandler(cap)
    os.replace(tmp, args.out)
    sizes = sorted(cap.sizes)
    print(f"wrote {cap.count} frames, {cap.bytes} bytes, mean {cap.bytes / cap.count:.1f} bytes/frame "
          f"(min {sizes[0]}, median {sizes[len(sizes) // 2]}, max {sizes[-1]}) to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
