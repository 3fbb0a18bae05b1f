"""A local DynamoDB endpoint: moto's server app, serving one request at a time.

moto's backend is not thread-safe: with concurrent requests two conditional puts on one key can
both succeed, and concurrent TransactWriteItems crash mid-iteration (HTTP 500). Real DynamoDB
applies each conditional write atomically; serialising requests gives the local endpoint the same
guarantee. The body is consumed inside the lock because WSGI apps may compute it lazily.

Usage: python scripts/local_dynamodb.py [--host 127.0.0.1] [--port 8001]
"""
import argparse
import logging
import threading

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import make_server


class SerializedApp:
    """WSGI middleware: at most one request inside the wrapped app at any time."""

    def __init__(self, app):
        self.app = app
        self.lock = threading.Lock()

    def __call__(self, environ, start_response):
        with self.lock:
            result = self.app(environ, start_response)
            try:
                return [b"".join(result)]
            finally:
                close = getattr(result, "close", None)
                if close is not None:
                    close()


def make_local_server(host="127.0.0.1", port=8001):
    app = SerializedApp(DomainDispatcherApplication(create_backend_app))
    return make_server(host, port, app, threaded=True, request_handler=MotoRequestHandler)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001)
    parser.add_argument("--verbose", action="store_true", help="log every request")
    args = parser.parse_args()
    if not args.verbose:
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = make_local_server(args.host, args.port)
    print(f"local DynamoDB (moto, serialised) on http://{args.host}:{server.server_port}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
