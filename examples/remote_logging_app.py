"""The factorial client from log-server's original description: logs through SocketHandler to the server.

    python3 examples/remote_logging_app.py [HOST] [PORT]

HOST defaults to localhost, PORT to 9020 (logging.handlers.DEFAULT_TCP_LOGGING_PORT), the server's defaults.
"""
import logging
import logging.handlers
import sys
from math import factorial

# The address of the logging server
HOST = sys.argv[1] if len(sys.argv) > 1 else "localhost"
PORT = int(sys.argv[2]) if len(sys.argv) > 2 else logging.handlers.DEFAULT_TCP_LOGGING_PORT

logger = logging.getLogger("remote_logging_app")


def work(i: int) -> int:
    logger.info("Factorial %d", i)
    f = factorial(i)
    logger.info("Factorial(%d) = %d", i, f)
    return f


socket_handler = logging.handlers.SocketHandler(HOST, PORT)
stream_handler = logging.StreamHandler(sys.stderr)
logging.basicConfig(
    level=logging.INFO,
    handlers=[socket_handler, stream_handler],
)

for i in range(10):
    work(i)

logger.info("Processing item %d", 42, extra={"user_id": 1234, "operation": "process_item"})

logging.shutdown()
