"""Shared fixtures: an in-process moto DynamoDB per test, the Chalice test client, users and tokens."""
import json
import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [ROOT, os.path.join(ROOT, "scripts")]

# Unit tests never reach a real endpoint: fake credentials, fast bcrypt, a test stage.
os.environ.update(
    STAGE="test",
    TABLE_NAME="movie-booking-test",
    BCRYPT_ROUNDS="4",
    AWS_DEFAULT_REGION="us-east-1",
    AWS_ACCESS_KEY_ID="testing",
    AWS_SECRET_ACCESS_KEY="testing",
    AWS_SESSION_TOKEN="testing",
)
os.environ.pop("AWS_ENDPOINT_URL_DYNAMODB", None)
os.environ.pop("AWS_ENDPOINT_URL", None)
os.environ.pop("JWT_SECRET_PARAM", None)
os.environ.pop("JWT_SECRET", None)
os.environ.pop("TICKET_SIGNING_KEY_PARAM", None)
# The ticket signing key ring (issue 19) is generated once into LOCAL_DATA_DIR: a folder of this test
# session, never the checkout's .local-data (shared with the live stack, which so signs with the same keys).
import atexit  # noqa: E402
import shutil  # noqa: E402
import tempfile  # noqa: E402

os.environ["LOCAL_DATA_DIR"] = tempfile.mkdtemp(prefix="movie-booking-test-data-")
atexit.register(shutil.rmtree, os.environ["LOCAL_DATA_DIR"], True)

# moto, boto3 and Chalice are imported by the fixtures that need them, so that `pytest tests/unit`
# (the pure rules) runs without them.


@pytest.fixture
def aws():
    """A fresh, empty moto account with the table created; caches are reset around it."""
    from moto import mock_aws

    from chalicelib import settings, storage

    settings.reset()
    storage.reset()
    with mock_aws():
        storage.create_table()
        yield storage.client()
    settings.reset()
    storage.reset()


@pytest.fixture
def demo(aws):
    """The demo catalog (movies 1-4, shows 1-10 in the coming days)."""
    from chalicelib import importer
    from demo_data import demo_catalog

    movies = demo_catalog()
    importer.import_catalog(movies)
    return movies


class Api:
    """Thin JSON wrapper over chalice.test.Client so tests read like HTTP calls."""

    def __init__(self, client):
        self.client = client

    def request(self, method, path, json_body=None, token=None, headers=None, raw=None):
        all_headers = {"Content-Type": "application/json"}
        if token:
            all_headers["Authorization"] = f"Bearer {token}"
        all_headers.update(headers or {})
        body = raw if raw is not None else (json.dumps(json_body) if json_body is not None else None)
        response = getattr(self.client.http, method.lower())(path, headers=all_headers, body=body)
        try:
            response.data = json.loads(response.body) if response.body else None
        except ValueError:
            response.data = None
        return response

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, json_body=None, **kw):
        return self.request("POST", path, json_body=json_body, **kw)

    def signup(self, username="alice", password="secret"):
        return self.post("/signup", {"username": username, "password": password})

    def login(self, username="alice", password="secret"):
        return self.post("/login", {"username": username, "password": password})

    def token_for(self, username="alice", password="secret"):
        """Sign up (if needed) and return an access token."""
        self.signup(username, password)
        response = self.login(username, password)
        assert response.status_code == 200, response.body
        return response.data["access"]


@pytest.fixture
def api(aws):
    from chalice.test import Client

    from app import app

    # The "local" stage: Client loads a stage's environment variables, and "dev" is a deployed stage.
    with Client(app, stage_name="local") as client:
        yield Api(client)


@pytest.fixture
def alice(api, demo):
    """An access token of customer alice (demo catalog loaded)."""
    return api.token_for("alice")


@pytest.fixture
def bob(api, demo):
    """An access token of customer bob (demo catalog loaded)."""
    return api.token_for("bob")


# --- live stack (issue 3): the real local stack, over HTTP --------------------------------------

LIVE_HOLD_SECONDS = 2
LIVE_SWEEP_SECONDS = 0.5  # the sweep runs every half second (every minute when deployed)
LIVE_RETRY_SCHEDULE = "0.2,0.2,0.2,0.2,0.2"  # webhook retries within a second


class LiveStack:
    """A running local stack: the serialised moto DynamoDB endpoint and `chalice local` in front of it.

    ``base_url`` is the API (no trailing slash), ``endpoint_url`` the DynamoDB endpoint, ``env`` the
    environment both run with (TABLE_NAME, AWS_ENDPOINT_URL_DYNAMODB, dummy credentials, ...).
    The demo catalog (movies 1-4, shows 1-10) is loaded; several test modules share the stack, so a
    test that needs seats nobody else touches should make its own show with ``add_show``.
    """

    def __init__(self, base_url, endpoint_url, env):
        self.base_url, self.endpoint_url, self.env = base_url, endpoint_url, env
        self._next_show_id = 900_000

    def dynamodb(self):
        import boto3

        return boto3.client("dynamodb", endpoint_url=self.endpoint_url, region_name=self.env["AWS_DEFAULT_REGION"],
                            aws_access_key_id="local", aws_secret_access_key="local", aws_session_token="local")

    def add_show(self, movie_id=1, total_seats=100, days_ahead=30, screen_name="Test screen", **seating):
        """A new show of ``movie_id`` (id from 900001 up, far from the demo's and admin-made ids);
        ``seating``: layout, categories, currency, no_single_seat_gaps (catalog.SEATING_FIELDS)."""
        import datetime as dt

        from chalicelib import catalog, storage as _storage
        from chalicelib.db import shows

        self._next_show_id += 1
        starts = dt.datetime.now(dt.timezone.utc).replace(microsecond=0) + dt.timedelta(days=days_ahead)
        item = shows.show_item(catalog.show_record(self._next_show_id, movie_id, screen_name, starts, total_seats,
                                                   **seating))
        self.dynamodb().put_item(TableName=self.env["TABLE_NAME"], Item=_storage.to_item(item),
                                 ConditionExpression="attribute_not_exists(PK)")
        return self._next_show_id


def _answers(url):
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


@pytest.fixture(scope="session")
def live_stack():
    """Start scripts/local_dynamodb.py and `chalice local --stage local` on free ports, each in its own
    process group (stopped, with any children, at the end of the session); create the table and load
    the demo catalog first. Their logs go to test-output/live-stack-*/ (one folder per session)."""
    import subprocess
    import tempfile
    import time

    import local_stack

    os.makedirs(os.path.join(ROOT, "test-output"), exist_ok=True)
    logs = tempfile.mkdtemp(prefix="live-stack-", dir=os.path.join(ROOT, "test-output"))
    ddb_port, api_port = local_stack.free_port(), local_stack.free_port()
    endpoint_url = f"http://127.0.0.1:{ddb_port}"
    env = {
        **os.environ,
        "STAGE": "local",
        "TABLE_NAME": "movie-booking-live",
        "BCRYPT_ROUNDS": "4",
        "HOLD_SECONDS": str(LIVE_HOLD_SECONDS),  # short holds, so expiry is tested by waiting it out
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",
        "AWS_SESSION_TOKEN": "local",
        "AWS_ENDPOINT_URL_DYNAMODB": endpoint_url,
        "AWS_ENDPOINT_URL_SQS": endpoint_url,  # the engine serves SQS too (webhook deliveries)
        "SWEEP_SECONDS": str(LIVE_SWEEP_SECONDS),
        "WEBHOOK_RETRY_SCHEDULE": LIVE_RETRY_SCHEDULE,
        "EVENTS_POLL_SECONDS": "0.1",  # the event sources poll the engine (serialised) 10 times a second
        "PYTHONUNBUFFERED": "1",
    }
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "JWT_SECRET_PARAM", "CORS_ALLOW_ORIGIN"):
        env.pop(name, None)
    processes = []

    def start(name, command):
        processes.append(local_stack.start(command, env=env, log_path=os.path.join(logs, f"{name}.log")))
        return processes[-1]

    try:
        dynamodb = start("dynamodb", local_stack.dynamodb_command(ddb_port))
        local_stack.wait_for_port(ddb_port, dynamodb, timeout=30)
        seed = ("from chalicelib import importer, storage; from demo_data import demo_catalog; "
                "storage.create_table(); importer.import_catalog(demo_catalog())")
        subprocess.run([sys.executable, "-c", f"import sys; sys.path[:0] = ['.', 'scripts']; {seed}"],
                       cwd=ROOT, env=env, check=True, timeout=60)
        import local_events

        env.update(local_events.create_queues(endpoint_url))
        start("events", local_stack.events_command())  # the stream, the delivery queue, the sweep
        api = start("chalice", local_stack.chalice_local_command(api_port))
        base_url = f"http://127.0.0.1:{api_port}"
        local_stack.wait_for_port(api_port, api, timeout=60)
        deadline = time.monotonic() + 30
        while not _answers(f"{base_url}/movies/") and time.monotonic() < deadline:
            time.sleep(0.1)
        yield LiveStack(base_url, endpoint_url, env)
    finally:
        local_stack.stop(processes, timeout=10)