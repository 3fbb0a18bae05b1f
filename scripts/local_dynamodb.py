"""A local DynamoDB endpoint: moto's server app, one request at a time, with flat costs and (optionally) durable.

- Serialised: moto's backend is not thread-safe: with concurrent requests two conditional puts on one
  key can both succeed, and concurrent TransactWriteItems crash mid-iteration (HTTP 500). Real DynamoDB
  applies each conditional write atomically; serialising requests gives the local endpoint the same
  guarantee. The body is consumed inside the lock because WSGI apps may compute it lazily.
- Flat costs: scripts/moto_speedups.py fixes moto's two costs that grow with the table (every Query
  looking at every item, every transaction copying whole tables) and several fixed costs per request.
- Fewer costs per request: DynamoDB requests go straight to moto's DynamoDB handler (``DynamoDBFirst``),
  connections are kept alive with TCP_NODELAY (``keep_alive_handler``), and request headers are parsed
  without the email parser (scripts/fast_http_headers.py).
- Durable with ``--data-dir``: scripts/dynamodb_journal.py appends every accepted write to a journal
  before answering, replays it at start, and compacts it at start and at a clean stop.
- Also DynamoDB Streams and SQS (moto's dispatcher routes by service): the table's stream and the webhook
  queues of the local event sources (scripts/local_events.py). Stream records are journaled with their
  writes; SQS is in memory only (the sweep re-sends a lost delivery message).
- ``--listen-fd N`` serves on a listening socket inherited from the parent (``make run`` binds its
  ports itself, so nothing else can take a port between a check and the bind).

SIGTERM and Ctrl-C stop it cleanly (the journal is compacted); ``--parent-pid`` also stops it when
that process dies. Bad arguments or an unusable data folder: one line on stderr, exit code 2.

Usage: python scripts/local_dynamodb.py [--host 127.0.0.1] [--port 8001 | --listen-fd N] [--data-dir DIR]
"""
import argparse
import logging
import os
import signal
import sys
import threading

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

import dynamodb_journal  # noqa: E402
import fast_http_headers  # noqa: E402
import local_stack  # noqa: E402
import moto_speedups  # noqa: E402


class SerializedApp:
    """WSGI middleware: at most one request inside the wrapped app at any time.

    With a journal, each write that moto answers with 200 is recorded inside the same lock, before the
    response leaves, so the journal's order is the order the writes were applied in.
    """

    def __init__(self, app, journal=None):
        self.app = app
        self.journal = journal
        self.lock = threading.Lock()

    def __call__(self, environ, start_response):
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        journaled = self.journal is not None and dynamodb_journal.is_write(target)
        # Read whole, here: the journal needs it, and so does keeping the connection (KeepAliveHandler).
        body = dynamodb_journal.read_body(environ)
        statuses = []

        def record_status(status, headers, exc_info=None):
            statuses.append(status)
            return start_response(status, headers, exc_info)

        with self.lock:
            if journaled:
                self.journal.begin_request()
            result = self.app(environ, record_status)
            try:
                payload = b"".join(result)
            finally:
                close = getattr(result, "close", None)
                if close is not None:
                    close()
            if journaled and statuses and statuses[0].startswith("200"):
                self.journal.append_request(target, environ, body)
            return [payload]


class DynamoDBFirst:
    """WSGI app: DynamoDB requests straight to moto's DynamoDB handler, anything else to moto's dispatcher.

    moto's ``DomainDispatcherApplication`` works out the service of every request from its headers,
    listing moto's package folder each time (about 60 stat calls); for ``DynamoDB_20120810.*`` targets
    it always picks the app ``create_backend_app("dynamodb")`` returns, so that app is called directly.

    That app is a Flask app with one route (``/``, to ``DynamoHandler.dispatch`` through
    ``moto.core.utils.convert_to_flask_response``) and flask-cors. For what every SDK sends (a POST to
    ``/`` without an ``Origin`` header) ``call_handler`` does what that route does, without Flask's
    request context, routing and response hooks (about 10 % of the endpoint's CPU): the same request
    class, the same call, the same Response class, and the one header flask-cors adds to such a
    request. Anything else (a browser's CORS request, another path or method) still goes through
    Flask. ``tests/test_local_dynamodb_direct.py`` compares the two paths' raw responses.
    """

    TARGET_PREFIX = "DynamoDB_20120810."

    def __init__(self):
        from botocore.exceptions import ClientError
        from flask import Response
        from moto.dynamodb.responses import DynamoHandler
        from moto.moto_api import recorder
        from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
        from moto.settings import DISABLE_GLOBAL_CORS

        self.dynamodb = create_backend_app("dynamodb")
        self.request_class = self.dynamodb.request_class  # moto's BackendRequest, as Flask would make it
        self.handler = DynamoHandler.dispatch  # what the app's one route calls (moto/dynamodb/urls.py)
        self.cors = not DISABLE_GLOBAL_CORS
        self.response_class, self.client_error, self.record = Response, ClientError, recorder._record_request
        self.dispatcher = DomainDispatcherApplication(create_backend_app)
        self.direct = True  # False: every request through Flask (tests compare the two)

    def __call__(self, environ, start_response):
        if environ.get("HTTP_X_AMZ_TARGET", "").startswith(self.TARGET_PREFIX):
            if (self.direct and environ.get("REQUEST_METHOD") == "POST" and environ.get("PATH_INFO") == "/"
                    and "HTTP_ORIGIN" not in environ):
                return self.call_handler(environ, start_response)
            return self.dynamodb(environ, start_response)
        return self.dispatcher(environ, start_response)

    def call_handler(self, environ, start_response):
        """``convert_to_flask_response.__call__`` for the route ``/``, plus flask-cors's header."""
        request = self.request_class(environ)
        try:
            self.record(request)
            result = self.handler(request, request.raw_url, dict(request.headers))
        except self.client_error as exc:
            result = 400, {}, exc.response["Error"]["Message"]
        status, headers, content = result if len(result) == 3 else (200, {}, result)
        response = self.response_class(response=content, status=status, headers=headers)
        if self.cors:
            response.headers["Access-Control-Allow-Origin"] = "*"  # flask-cors, for a request without Origin
        return response(environ, start_response)


def moto_app():
    return DynamoDBFirst()


def keep_alive_handler():
    """moto's request handler, keeping HTTP/1.1 connections open where werkzeug closes every one.

    werkzeug's dev server answers every request with ``Connection: close``, and after each response
    discards whatever else the client sent (waiting 10 ms for it), because http.server cannot tell a
    body the app left unread from the next request. ``SerializedApp`` reads every body whole, so after
    a request with a Content-Length (or without a body) the stream is exactly at the next request:
    this handler keeps the connection and skips that discarding, which saves a TCP connection and a
    thread per DynamoDB call. A chunked request still closes its connection.
    """
    import selectors

    import werkzeug.serving
    from moto.moto_server.werkzeug_app import MotoRequestHandler

    class NothingLeftToDiscard(selectors.DefaultSelector):
        def select(self, timeout=None):
            return []

    class Selectors:  # werkzeug.serving's view of the selectors module
        EVENT_READ = selectors.EVENT_READ
        DefaultSelector = NothingLeftToDiscard

    werkzeug.serving.selectors = Selectors

    class KeepAliveHandler(MotoRequestHandler):
        # Kept-alive responses would otherwise wait ~40 ms for Nagle's algorithm and the delayed ACK.
        disable_nagle_algorithm = True

        def send_header(self, keyword, value):
            if keyword.lower() == "connection" and value.lower() == "close" and not self._chunked():
                return
            super().send_header(keyword, value)

        def log_request(self, code="-", size="-"):
            # werkzeug formats the access line before its logger drops it (below INFO unless --verbose).
            if logging.getLogger("werkzeug").isEnabledFor(logging.INFO):
                super().log_request(code, size)

        def run_wsgi(self):
            super().run_wsgi()
            if self._chunked():
                self.close_connection = True

        def _chunked(self):
            return "chunked" in self.headers.get("Transfer-Encoding", "").lower()

    return KeepAliveHandler


def apply_speedups():
    """Patch moto (scripts/moto_speedups.py); on a moto version it was not checked against, say so and go on."""
    try:
        moto_speedups.apply()
        return True
    except moto_speedups.UnsupportedMotoVersion as exc:
        print(f"local DynamoDB: running stock moto, without speedups: {exc}", file=sys.stderr, flush=True)
        return False


def make_local_server(host="127.0.0.1", port=8001, fd=None, journal=None):
    """The threaded werkzeug server around the serialised app, on ``host:port`` or the listening socket ``fd``.

    Apply the speedups first (``apply_speedups``) for the endpoint `make run` serves.
    """
    from werkzeug.serving import make_server

    app = SerializedApp(moto_app(), journal)
    server = make_server(host, port, app, threaded=True, request_handler=keep_alive_handler(), fd=fd)
    server.serialized_app = app
    return server


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001)
    parser.add_argument("--listen-fd", type=int, help="serve on this inherited, already listening socket")
    parser.add_argument("--data-dir", help="keep the data in this folder (default: in memory only)")
    parser.add_argument("--fresh", action="store_true", help="start from empty: drop the data folder's journal")
    parser.add_argument("--parent-pid", type=int, help="stop when this process is no longer the parent")
    parser.add_argument("--stock-moto", action="store_true",
                        help="serve moto without scripts/moto_speedups.py (for before/after benchmarks)")
    parser.add_argument("--verbose", action="store_true", help="log every request")
    args = parser.parse_args(argv)
    logging.getLogger("werkzeug").setLevel(logging.INFO if args.verbose else logging.WARNING)
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    if args.parent_pid:
        local_stack.exit_with_parent(args.parent_pid)
    if args.listen_fd is None:
        try:  # bound here rather than by werkzeug, which prints two lines and exits on a taken port
            sock = local_stack.listen(args.port, args.host, setting="--port")
        except local_stack.PortInUse as exc:
            print(f"local DynamoDB: {exc}", file=sys.stderr)
            return 2
        args.listen_fd = sock.fileno()

    patched = False if args.stock_moto else apply_speedups()
    fast_http_headers.apply()
    journal = dynamodb_journal.Journal(args.data_dir) if args.data_dir else None
    server = make_local_server(args.host, args.port, fd=args.listen_fd, journal=journal)
    try:
        if journal is not None:
            summary = journal.open(moto_app(), fresh=args.fresh)
            kept = (f"data in {journal.data_dir} ({summary['requests']} requests and {summary['items']} items "
                    f"replayed" + (f", {summary['refused']} refused" if summary["refused"] else "")
                    + (", a torn last line dropped" if summary["torn_bytes"] else "") + ")")
        else:
            kept = "in memory only"
    except dynamodb_journal.JournalError as exc:
        print(f"local DynamoDB: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 0
    engine = "moto + scripts/moto_speedups.py" if patched else "stock moto"
    print(f"local DynamoDB ({engine}, serialised) on http://{args.host}:{server.server_address[1]}, {kept}",
          flush=True)
    try:
        server.serve_forever()  # returns on KeyboardInterrupt (Ctrl-C, or SIGTERM via _interrupt)
    except KeyboardInterrupt:
        pass
    finally:
        if journal is not None:
            with server.serialized_app.lock:  # no write in flight while the journal is compacted
                journal.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
