"""HTTPHandler over HTTPS, for a log-server started with --http-port and --tls-cert/--tls-key (and --tls-ca).

Python 3.8 or later, standard library only. In a program it is the stock handler with secure=True and an SSL
context:

    context = ssl.create_default_context(cafile="ca.pem")                  # who signed the server's certificate
    context.load_cert_chain("client.pem", "client.key")                    # only with --tls-ca
    handler = logging.handlers.HTTPHandler("logs.example.com:9022", "/log", method="POST",
                                           secure=True, context=context,
                                           credentials=("app", "s3cret"))  # only with --http-auth

Run it to send a few records:

    python3 examples/tls_http_handler.py HOST:PORT --ca ca.pem [--cert client.pem --key client.key]
            [--user app --password s3cret] [--count N] [--message TEXT]

The server's certificate is verified, name included (HOST must be in its subjectAltName). HTTPHandler opens a
connection per record and ignores the answer's status; this script makes a failed send exit 1 with the reason.
"""
import argparse
import logging
import logging.handlers
import ssl
import sys


def main():
    parser = argparse.ArgumentParser(description="Send records to log-server over HTTPS.")
    parser.add_argument("address", help="HOST:PORT of --http-port")
    parser.add_argument("--path", default="/log", help="--http-path (default /log)")
    parser.add_argument("--ca", help="CA certificate(s) of the server's certificate (default: the system's)")
    parser.add_argument("--cert", help="client certificate (for a server started with --tls-ca)")
    parser.add_argument("--key", help="the client certificate's key")
    parser.add_argument("--user", help="--http-auth user")
    parser.add_argument("--password", help="--http-auth password")
    parser.add_argument("--count", type=int, default=1, help="records to send (default 1)")
    parser.add_argument("--message", default="hello over HTTPS")
    args = parser.parse_args()

    context = ssl.create_default_context(cafile=args.ca)
    if args.cert is not None:
        context.load_cert_chain(args.cert, args.key)
    credentials = (args.user, args.password) if args.user is not None else None
    handler = logging.handlers.HTTPHandler(args.address, args.path, method="POST", secure=True, context=context,
                                           credentials=credentials)
    failed = []
    handler.handleError = lambda record: failed.append(sys.exc_info()[1])
    log = logging.getLogger("tls_http_example")
    log.propagate = False
    log.setLevel(logging.INFO)
    log.addHandler(handler)
    for i in range(args.count):
        log.info("%s %d", args.message, i, extra={"seq": i})
        if failed:
            sys.exit("cannot send to https://%s%s: %s" % (args.address, args.path, failed[0]))
    handler.close()


if __name__ == "__main__":
    main()
