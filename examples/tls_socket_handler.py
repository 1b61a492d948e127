"""SocketHandler over TLS, for a log-server started with --tls-cert and --tls-key (and --tls-ca for client certificates).

Python 3.8 or later, standard library only. Use the class in a program (import it from here, or copy it: it is
the whole of it):

    from tls_socket_handler import TLSSocketHandler

    handler = TLSSocketHandler("logs.example.com", 9020, cafile="ca.pem",              # who signed the server's certificate
                               certfile="client.pem", keyfile="client.key")             # only with --tls-ca
    logging.getLogger().addHandler(handler)

or run it to send a few records (and see at once whether the handshake works):

    python3 examples/tls_socket_handler.py HOST PORT --ca ca.pem [--cert client.pem --key client.key] [--count N] [--message TEXT]

The server's certificate is verified, name included: HOST must be a name or address its certificate holds
(subjectAltName), or give --server-name. Exits 1 with the reason if the connection cannot be made.
"""
import argparse
import logging
import logging.handlers
import ssl
import sys


class TLSSocketHandler(logging.handlers.SocketHandler):
    """A SocketHandler whose socket is wrapped in TLS.

    cafile: the CA certificate(s) the server's certificate must verify against (default: the system's).
    certfile, keyfile: the client certificate and its key, for a server that asks for one (--tls-ca).
    server_hostname: the name checked against the server's certificate (default: host).
    context: an ssl.SSLContext of your own, instead of the three files.

    Everything else is SocketHandler's: one connection, made again after a failure (with its back-off), and the
    same frames (4-byte length, pickled record) inside the TLS stream.
    """

    def __init__(self, host, port, cafile=None, certfile=None, keyfile=None, server_hostname=None, context=None):
        super().__init__(host, port)
        if context is None:
            context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=cafile)
            if certfile is not None:
                context.load_cert_chain(certfile, keyfile)
        self.context = context
        self.server_hostname = server_hostname or host

    def makeSocket(self, timeout=1):
        sock = super().makeSocket(timeout)
        try:
            return self.context.wrap_socket(sock, server_hostname=self.server_hostname)
        except BaseException:
            sock.close()
            raise

    def close(self):
        # A TLS 1.3 server sends session tickets after the handshake, which a SocketHandler never reads. Closing a
        # socket with unread data makes the kernel reset the connection, and the server then loses the records it
        # had not read yet. So the TLS session is closed first (close_notify, then the server's, reading what it
        # sent), and the socket after it.
        self.acquire()
        try:
            if self.sock is not None:
                try:
                    self.sock.unwrap()
                except (OSError, ValueError):
                    pass  # the server had closed already
        finally:
            self.release()
        super().close()


def main():
    parser = argparse.ArgumentParser(description="Send records to log-server over TLS.")
    parser.add_argument("host")
    parser.add_argument("port", type=int)
    parser.add_argument("--ca", help="CA certificate(s) of the server's certificate (default: the system's)")
    parser.add_argument("--cert", help="client certificate (for a server started with --tls-ca)")
    parser.add_argument("--key", help="the client certificate's key")
    parser.add_argument("--server-name", help="the name the server's certificate must hold (default: HOST)")
    parser.add_argument("--count", type=int, default=1, help="records to send (default 1)")
    parser.add_argument("--message", default="hello over TLS")
    args = parser.parse_args()

    handler = TLSSocketHandler(args.host, args.port, cafile=args.ca, certfile=args.cert, keyfile=args.key,
                               server_hostname=args.server_name)
    # SocketHandler drops records silently when it cannot connect: connect first, to say why.
    try:
        handler.sock = handler.makeSocket()
    except OSError as e:
        sys.exit("cannot connect to %s:%d over TLS: %s" % (args.host, args.port, e))
    failed = []
    handler.handleError = lambda record: failed.append(sys.exc_info()[1])
    log = logging.getLogger("tls_example")
    log.propagate = False
    log.setLevel(logging.INFO)
    log.addHandler(handler)
    for i in range(args.count):
        log.info("%s %d", args.message, i, extra={"seq": i})
    handler.close()
    if failed:
        sys.exit("sending failed: %s" % failed[0])


if __name__ == "__main__":
    main()
