"""`make run`: start the local DynamoDB endpoint (unless one is configured), create the table,
load the demo catalog, and serve the API with `chalice local`. Ctrl-C stops everything it started.

Settings (environment): PORT (8000), HOST (127.0.0.1), DYNAMODB_PORT (8001, or a free port when 8001 is
taken and DYNAMODB_PORT is not set), LOCAL_DATA_DIR (.local-data in the checkout: where the embedded
endpoint keeps its data), FRESH=1 (start that endpoint from empty), AWS_ENDPOINT_URL_DYNAMODB (use that
endpoint instead of starting one), TABLE_NAME. The event sources (scripts/local_events.py: the table's
stream, the webhook delivery queue, the sweep every SWEEP_SECONDS) run against the same endpoint, which
serves SQS too (AWS_ENDPOINT_URL_SQS to use another).

The ports are bound here, before anything starts, and the listening sockets are handed to the children:
a taken port is one line and exit code 2, never a banner; and what answers on them is always our child.
Any other bad setting is one line and exit code 2 as well.
"""
import ipaddress
import os
import signal
import sys
import time
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path[:0] = [ROOT, HERE]

import local_stack  # noqa: E402

DEFAULT_DATA_DIR = os.path.join(ROOT, ".local-data")
DUMMY_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local", "AWS_SESSION_TOKEN": "local"}


class SettingError(Exception):
    """A setting `make run` cannot work with; the message says what to do."""


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def port_setting(name, default):
    raw = os.environ.get(name, str(default))
    try:
        port = int(raw)
    except ValueError:
        port = -1
    if not 0 <= port <= 65535:
        raise SettingError(f"{name} must be a port number (0-65535), not {raw!r}")
    return port


def is_loopback(host):
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def exposure_warning(host, environ):
    """A one-line warning when the API is reachable from other machines while signing with the dev secret."""
    local_stage = environ.get("STAGE", "local") in ("local", "test")
    if not is_loopback(host) and local_stage and not environ.get("JWT_SECRET"):
        return (f"make run: warning: HOST={host} serves beyond this machine, and tokens are signed with the "
                f"public development secret: anyone can forge them; set JWT_SECRET")
    return None


def configured_endpoint(url):
    """Check AWS_ENDPOINT_URL_DYNAMODB and its credentials; dummy ones for a loopback endpoint if none are set."""
    parsed = urllib.parse.urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise SettingError(f"AWS_ENDPOINT_URL_DYNAMODB must be a URL like http://127.0.0.1:8001, not {url!r}")
    loopback = is_loopback(parsed.hostname)
    if _has_credentials(use_instance_metadata=not loopback):
        return
    if loopback:
        os.environ.update(DUMMY_CREDENTIALS)  # a local endpoint accepts any: never look further for real ones
        return
    raise SettingError(f"no AWS credentials for {url}: set AWS_PROFILE, or AWS_ACCESS_KEY_ID and "
                       f"AWS_SECRET_ACCESS_KEY (any values will do for a local endpoint)")


def _has_credentials(use_instance_metadata):
    import botocore.session

    session = botocore.session.get_session()
    if not use_instance_metadata:  # a loopback endpoint: the EC2 metadata service is never asked
        resolver = session.get_component("credential_provider")
        resolver.remove("iam-role")
        resolver.remove("container-role")
    try:
        return session.get_credentials() is not None
    except Exception as exc:  # noqa: BLE001 - a broken profile, say: report it in one line
        raise SettingError(f"AWS credentials: {exc}") from None


def main():
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    os.environ.setdefault("STAGE", "local")
    # The embedded endpoint serves one request at a time, so under load a response can take seconds;
    # a short read timeout would abandon writes that still land later (deployed stages keep 2 s).
    os.environ.setdefault("DYNAMODB_READ_TIMEOUT", "10")
    started, sockets = [], []
    # Ctrl-C and SIGTERM both end in the `finally` below (a shell may have left SIGINT ignored).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        host = os.environ.get("HOST", "127.0.0.1")
        port = port_setting("PORT", 8000)
        endpoint = os.environ.get("AWS_ENDPOINT_URL_DYNAMODB")
        configured = bool(endpoint)
        if endpoint:
            configured_endpoint(endpoint)
        warning = exposure_warning(host, os.environ)
        if warning:
            print(warning, file=sys.stderr, flush=True)
        api_socket = local_stack.listen(port, host, setting="PORT")
        sockets.append(api_socket)

        if not endpoint:
            ddb_socket = _dynamodb_socket()
            sockets.append(ddb_socket)
            ddb_port = ddb_socket.getsockname()[1]
            # The embedded endpoint accepts any credentials; never send real ones to it.
            os.environ.update(DUMMY_CREDENTIALS)
            started.append(local_stack.start(
                local_stack.dynamodb_command(ddb_port, listen_fd=ddb_socket.fileno(), parent_pid=os.getpid(),
                                             data_dir=os.environ.get("LOCAL_DATA_DIR") or DEFAULT_DATA_DIR,
                                             fresh=os.environ.get("FRESH") == "1"),
                pass_fds=[ddb_socket.fileno()]))
            _wait_or_exit(ddb_port, started[-1], "the local DynamoDB endpoint", timeout=120)
            endpoint = os.environ["AWS_ENDPOINT_URL_DYNAMODB"] = f"http://127.0.0.1:{ddb_port}"

        report, created = _load_demo_data(endpoint)
        from chalicelib import storage

        print(f"table {storage.table_name()} at {endpoint}: {'created' if created else 'exists'}; demo data: "
              f"{len(report['created'])} created, {len(report['skipped'])} already present", flush=True)
        events = _start_events(endpoint, own_endpoint=not configured)
        if events is not None:
            started.append(events)

        started.append(local_stack.start(
            local_stack.chalice_local_command(port, host, listen_fd=api_socket.fileno(), parent_pid=os.getpid()),
            pass_fds=[api_socket.fileno()]))
        _wait_or_exit(port, started[-1], "chalice local", timeout=90, host=_connect_host(host),
                      path="/movies/")
        shown = "localhost" if host in ("127.0.0.1", "0.0.0.0") else host
        print(f"\n  API:      http://{shown}:{port}/movies/\n  Swagger:  http://{shown}:{port}/swagger/\n"
              f"  Box office: http://{shown}:{port}/box-office/\n"
              f"  ReDoc:    http://{shown}:{port}/redoc/\n"
              "  Events:   the table's stream, webhook deliveries and the sweep (scripts/local_events.py)\n"
              "\nCtrl-C stops the API, the event sources and the local DynamoDB.\n",
              flush=True)
        while all(p.poll() is None for p in started):
            time.sleep(0.5)
        print("make run: a server exited; stopping", file=sys.stderr)
        return 1
    except (SettingError, local_stack.PortInUse) as exc:
        print(f"make run: {exc}", file=sys.stderr)
        return 2
    except ChildFailed as exc:
        if exc.code != 2:  # 2: the child has already said why, in one line
            print(f"make run: {exc}", file=sys.stderr)
        return exc.code or 1
    except KeyboardInterrupt:
        return 0
    finally:
        # A second Ctrl-C must not cut the clean stop short (and leave the children serving).
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        local_stack.stop(started, timeout=15)  # the endpoint compacts its journal on SIGTERM
        for sock in sockets:
            sock.close()


def _start_events(endpoint, own_endpoint):
    """The event sources (scripts/local_events.py): SQS queues on the same endpoint (moto serves both),
    their URLs in the environment `chalice local` and the poller inherit, then the poller itself."""
    import local_events
    from botocore.exceptions import BotoCoreError, ClientError

    if not own_endpoint and not is_loopback(urllib.parse.urlparse(endpoint).hostname or ""):
        print("make run: the event sources (stream, webhook queue, sweep) run only against a local engine; "
              "not started", file=sys.stderr, flush=True)
        return None
    os.environ.setdefault("AWS_ENDPOINT_URL_SQS", endpoint)
    try:
        os.environ.update(local_events.create_queues(os.environ["AWS_ENDPOINT_URL_SQS"]))
    except (BotoCoreError, ClientError) as exc:
        raise SettingError(f"SQS at {os.environ['AWS_ENDPOINT_URL_SQS']}: {exc}") from None
    data_dir = (os.environ.get("LOCAL_DATA_DIR") or DEFAULT_DATA_DIR) if own_endpoint else None
    return local_stack.start(local_stack.events_command(data_dir=data_dir, fresh=os.environ.get("FRESH") == "1",
                                                        parent_pid=os.getpid()))


class ChildFailed(Exception):
    def __init__(self, message, code):
        super().__init__(message)
        self.code = code


def _dynamodb_socket():
    explicit = "DYNAMODB_PORT" in os.environ
    port = port_setting("DYNAMODB_PORT", 8001)
    try:
        return local_stack.listen(port, setting="DYNAMODB_PORT")
    except local_stack.PortInUse:
        if explicit:
            raise
        return local_stack.listen(0)  # 8001 is taken and no port was asked for: any free port will do


def _connect_host(host):
    """Where to reach a server bound to ``host`` from this machine."""
    if host in ("0.0.0.0", ""):
        return "127.0.0.1"
    return "::1" if host == "::" else host


def _wait_or_exit(port, process, name, timeout, host=local_stack.HOST, path="/"):
    try:
        local_stack.wait_until_answering(port, process, timeout=timeout, host=host, path=path)
    except RuntimeError as exc:
        code = process.poll()
        raise ChildFailed(f"{name} did not start: {exc}", code if code is not None else 1) from None


def _load_demo_data(endpoint):
    """Create the table if missing and load the demo catalog; any DynamoDB failure is one SettingError line."""
    from botocore.exceptions import BotoCoreError, ClientError

    from chalicelib import importer, storage
    from chalicelib.errors import BookingAPIError
    from demo_data import demo_catalog

    try:
        created = storage.create_table()
        return importer.import_catalog(demo_catalog()), created
    except ClientError as exc:
        error = exc.response.get("Error", {})
        raise SettingError(f"DynamoDB at {endpoint} refused: {error.get('Code')}: {error.get('Message')}") from None
    except (BotoCoreError, BookingAPIError) as exc:
        raise SettingError(f"DynamoDB at {endpoint}: {exc}") from None


if __name__ == "__main__":
    sys.exit(main())
