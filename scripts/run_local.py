"""`make run`: start the local DynamoDB endpoint (unless one is configured), create the table,
load the demo catalog, and serve the API with `chalice local`. Ctrl-C stops everything it started.

Settings (environment): PORT (8000), HOST (127.0.0.1), DYNAMODB_PORT (8001),
AWS_ENDPOINT_URL_DYNAMODB (use that endpoint instead of starting one), TABLE_NAME.
"""
import os
import signal
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path[:0] = [ROOT, HERE]

import local_stack  # noqa: E402


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def main():
    port = int(os.environ.get("PORT", "8000"))
    host = os.environ.get("HOST", "127.0.0.1")
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    os.environ.setdefault("STAGE", "local")
    # The embedded endpoint serves one request at a time, so under load a response can take seconds;
    # a short read timeout would abandon writes that still land later (deployed stages keep 2 s).
    os.environ.setdefault("DYNAMODB_READ_TIMEOUT", "10")
    started = []
    # Ctrl-C and SIGTERM both end in the `finally` below (a shell may have left SIGINT ignored).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        if not os.environ.get("AWS_ENDPOINT_URL_DYNAMODB"):
            ddb_port = int(os.environ.get("DYNAMODB_PORT", "8001"))
            if not local_stack.port_is_free(ddb_port) and "DYNAMODB_PORT" not in os.environ:
                ddb_port = local_stack.free_port()  # 8001 is taken: any free port will do
            # The embedded endpoint accepts any credentials; never send real ones to it.
            os.environ.update(AWS_ACCESS_KEY_ID="local", AWS_SECRET_ACCESS_KEY="local", AWS_SESSION_TOKEN="local")
            started.append(local_stack.start(local_stack.dynamodb_command(ddb_port)))
            local_stack.wait_for_port(ddb_port, started[-1], timeout=30)
            os.environ["AWS_ENDPOINT_URL_DYNAMODB"] = f"http://127.0.0.1:{ddb_port}"

        from chalicelib import importer, storage
        from demo_data import demo_catalog

        created = storage.create_table()
        report = importer.import_catalog(demo_catalog())
        print(f"table {storage.table_name()} at {os.environ['AWS_ENDPOINT_URL_DYNAMODB']}: "
              f"{'created' if created else 'exists'}; demo data: {len(report['created'])} created, "
              f"{len(report['skipped'])} already present", flush=True)

        started.append(local_stack.start(local_stack.chalice_local_command(port, host)))
        local_stack.wait_for_port(port, started[-1], timeout=60, host=host)
        shown = "localhost" if host in ("127.0.0.1", "0.0.0.0") else host
        print(f"\n  API:      http://{shown}:{port}/movies/\n  Swagger:  http://{shown}:{port}/swagger/\n"
              f"  Box office: http://{shown}:{port}/box-office/\n"
              f"  ReDoc:    http://{shown}:{port}/redoc/\n\nCtrl-C stops the API and the local DynamoDB.\n",
              flush=True)
        while all(p.poll() is None for p in started):
            time.sleep(0.5)
        print("a server exited; stopping", file=sys.stderr)
        return 1
    except RuntimeError as exc:
        print(f"make run: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        local_stack.stop(started)


if __name__ == "__main__":
    sys.exit(main())
