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

from chalice.test import Client  # noqa: E402
from moto import mock_aws  # noqa: E402

from chalicelib import importer, settings, storage  # noqa: E402
from demo_data import demo_catalog  # noqa: E402


@pytest.fixture
def aws():
    """A fresh, empty moto account with the table created; caches are reset around it."""
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
    from app import app

    with Client(app) as client:
        yield Api(client)
