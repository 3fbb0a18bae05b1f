"""`chalice local`, adjusted to behave like the deployed API where it matters and to serve many clients.

Everything else is chalice's own CLI: ``python scripts/chalice_local.py [--listen-fd N] [--parent-pid P]
local --port 8000 ...``. The adjustments, all to chalice's dev server (chalice.local):

- A listen backlog of 128: socketserver's default of 5 resets connections when 20+ clients connect at once.
- TCP_NODELAY: keep-alive responses otherwise wait ~40 ms for Nagle's algorithm and the delayed ACK.
- ``--listen-fd N``: serve on a listening socket inherited from the parent (`make run` binds its ports
  itself, so nothing else can take the port between a check and the bind).
- ``requestContext.identity.sourceIp`` is the connection's peer address, not chalice's fixed 127.0.0.1,
  so a rule keyed on the client's address can be tried locally (from 127.0.0.2 and 127.0.0.3, say).
- The errors API Gateway answers itself get the project's JSON shape ``{"Code", "Message", "request_id"}``
  (infra/template.yaml's gateway responses): an unknown path is ``404 NotFound "No such route."``
  instead of chalice's ``403 {"message": "Missing Authentication Token"}``, and a method a known path
  does not have is ``405 MethodNotAllowed`` with an ``Allow`` header.
- ``--parent-pid P``: stop when that process is no longer the parent (a killed `make run`).
- HTTP headers (its requests, and the DynamoDB responses boto3 reads inside the app) are parsed by
  scripts/fast_http_headers.py instead of the email parser: the same messages, less CPU.
"""
import json
import socket
import sys
import threading
import uuid

from chalice import local
from chalice.cli import main

import fast_http_headers

fast_http_headers.apply()  # request headers here, and the DynamoDB responses boto3 reads in the app
local.ThreadedHTTPServer.request_queue_size = 128
local.ChaliceRequestHandler.disable_nagle_algorithm = True

_peer = threading.local()  # the client address of the connection this handler thread serves
_listen_fd = None


# --- an inherited listening socket ------------------------------------------------------------------

_stock_server_bind = local.ThreadedHTTPServer.server_bind
_stock_server_activate = local.ThreadedHTTPServer.server_activate


def _server_bind(self):
    if _listen_fd is None:
        return _stock_server_bind(self)
    self.socket.close()
    self.socket = socket.socket(fileno=_listen_fd)
    host, port = self.socket.getsockname()[:2]
    self.server_address, self.server_name, self.server_port = (host, port), host, port


def _server_activate(self):
    if _listen_fd is None:
        return _stock_server_activate(self)
    self.socket.listen(self.request_queue_size)  # already listening: this only sets the backlog


local.ThreadedHTTPServer.server_bind = _server_bind
local.ThreadedHTTPServer.server_activate = _server_activate


# --- the real client address in the Lambda event ----------------------------------------------------

_stock_setup = local.ChaliceRequestHandler.setup
_stock_create_lambda_event = local.LambdaEventConverter.create_lambda_event


def _setup(self):
    _peer.address = self.client_address[0]
    _stock_setup(self)


def _create_lambda_event(self, method, path, headers, body=None):
    event = _stock_create_lambda_event(self, method, path, headers, body)
    event["requestContext"]["identity"]["sourceIp"] = getattr(_peer, "address", self.LOCAL_SOURCE_IP)
    return event


local.ChaliceRequestHandler.setup = _setup
local.LambdaEventConverter.create_lambda_event = _create_lambda_event


# --- gateway errors in the project's shape ----------------------------------------------------------

class GatewayError(local.LocalGatewayException):
    """An error the gateway answers without calling the function, as ``{"Code", "Message", "request_id"}``."""

    def __init__(self, status, code, message, headers=None):
        request_id = uuid.uuid4().hex
        body = json.dumps({"Code": code, "Message": message, "request_id": request_id},
                          separators=(",", ":")).encode()
        super().__init__({"Content-Type": "application/json", "X-Request-Id": request_id,
                          "x-amzn-RequestId": request_id, **(headers or {})}, body)
        self.CODE = status


_stock_handle_request = local.LocalGateway.handle_request


def _handle_request(self, method, path, headers, body):
    try:
        route = self.event_converter._route_matcher.match_route(path).route
    except ValueError:
        raise GatewayError(404, "NotFound", "No such route.") from None
    methods = self._app_object.routes[route]
    # OPTIONS without a view of its own is the CORS preflight chalice answers itself, as API Gateway does.
    if method not in methods and method != "OPTIONS":
        allowed = ", ".join(sorted(methods))
        raise GatewayError(405, "MethodNotAllowed", f"{path.split('?')[0]} does not support {method}; use {allowed}.",
                           {"Allow": allowed})
    return _stock_handle_request(self, method, path, headers, body)


local.LocalGateway.handle_request = _handle_request


# --- command line -----------------------------------------------------------------------------------

def _take_option(argv, name):
    """Remove ``name VALUE`` from argv (before chalice sees it); the value as an int, or None."""
    if name not in argv:
        return None
    at = argv.index(name)
    try:
        value = int(argv[at + 1])
    except (IndexError, ValueError):
        sys.exit(f"chalice_local.py: {name} needs a number")
    del argv[at:at + 2]
    return value


if __name__ == "__main__":
    _listen_fd = _take_option(sys.argv, "--listen-fd")
    parent_pid = _take_option(sys.argv, "--parent-pid")
    if parent_pid:
        import local_stack  # scripts/, this file's folder, is on sys.path

        local_stack.exit_with_parent(parent_pid)
    sys.argv[0] = "chalice"
    sys.exit(main())
