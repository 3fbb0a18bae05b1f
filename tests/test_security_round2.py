"""Security, round 2 (issue #13): each finding replayed as the attack, over HTTP against the live
stack (`chalice local` + the serialised DynamoDB endpoint) with real threads, plus the in-process
checks of the same rules (Link headers behind a gateway, the DynamoDB calls each auth request makes).

One test here needs the local server to report each client's own address in
``requestContext.identity.sourceIp`` (`chalice local` itself always says 127.0.0.1; the engine
branch's scripts/chalice_local.py reports the peer): the owner-versus-attacker test, which connects
from 127.0.0.2 and 127.0.0.3.
"""
import concurrent.futures
import http.client
import json
import threading
import time
import urllib.parse
import uuid
from dataclasses import dataclass

import jwt
import pytest

from chalicelib import keys, storage
from test_request_counts import counting

OWNER_ADDRESS, ATTACKER_ADDRESS = "127.0.0.2", "127.0.0.3"


@dataclass
class Answer:
    status: int
    body: object
    headers: dict


def call(stack, method, path, body=None, token=None, headers=None, source="127.0.0.1"):
    """One HTTP request on its own connection from the loopback address ``source``."""
    url = urllib.parse.urlsplit(stack.base_url)
    connection = http.client.HTTPConnection(url.hostname, url.port, timeout=30, source_address=(source, 0))
    all_headers = {"Content-Type": "application/json", **(headers or {})}
    if token:
        all_headers["Authorization"] = f"Bearer {token}"
    try:
        connection.request(method, path, body=json.dumps(body) if body is not None else None, headers=all_headers)
        response = connection.getresponse()
        raw = response.read()
        return Answer(response.status, json.loads(raw) if raw else None,
                      {k.lower(): v for k, v in response.getheaders()})
    finally:
        connection.close()


def in_parallel(jobs):
    """Run every job at once (one thread each, released together) and return their answers in order."""
    start = threading.Barrier(len(jobs))

    def run(job):
        start.wait()
        return job()

    with concurrent.futures.ThreadPoolExecutor(max_workers=len(jobs)) as pool:
        return list(pool.map(run, jobs))


def new_name(prefix="r2"):
    return f"{prefix}{uuid.uuid4().hex[:12]}"


def signup(stack, name, password="secret", source="127.0.0.1"):
    answer = call(stack, "POST", "/signup/", {"username": name, "password": password}, source=source)
    assert answer.status == 201, answer.body
    return name


def login(stack, name, password="secret", source="127.0.0.1"):
    return call(stack, "POST", "/login/", {"username": name, "password": password}, source=source)


def refresh(stack, refresh_token, source="127.0.0.1"):
    return call(stack, "POST", "/token/refresh/", {"refresh": refresh_token}, source=source)


def logout_everywhere(stack, access):
    return call(stack, "POST", "/logout/", token=access)


def stored(stack, key):
    item = stack.dynamodb().get_item(TableName=stack.env["TABLE_NAME"], Key=storage.to_item(key),
                                     ConsistentRead=True).get("Item")
    return storage.from_item(item) if item else None


@pytest.fixture(scope="module")
def stack(live_stack):
    return live_stack


# --- 1. "Log out everywhere" can be survived ----------------------------------------------------

def test_logout_everywhere_right_after_two_logins_refuses_both_refresh_tokens(stack):
    name = signup(stack, new_name())
    first, second = login(stack, name).body, login(stack, name).body
    assert logout_everywhere(stack, first["access"]).status == 204  # well within the logins' second
    for session in (first, second):
        answer = refresh(stack, session["refresh"])
        assert answer.status == 401, answer.body
        assert answer.body["Code"] == "InvalidToken"


def test_a_thief_rotating_every_250_ms_does_not_survive_logout_everywhere(stack):
    name = signup(stack, new_name())
    owner = login(stack, name).body
    stolen = {"refresh": owner["refresh"]}
    attempts, logged_out_at, stop = [], [], threading.Event()

    def thief():
        for _ in range(16):  # at most 4 s
            started = time.monotonic()
            answer = refresh(stack, stolen["refresh"], source=ATTACKER_ADDRESS)
            attempts.append((started, answer.status))
            if answer.status == 200:
                stolen["refresh"] = answer.body["refresh"]
            if stop.is_set() and answer.status != 200:
                return
            time.sleep(0.25)

    rotating = threading.Thread(target=thief)
    rotating.start()
    deadline = time.monotonic() + 10
    while sum(1 for _, status in attempts if status == 200) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert logout_everywhere(stack, owner["access"]).status == 204
    logged_out_at.append(time.monotonic())
    stop.set()
    rotating.join(timeout=10)
    after = [status for started, status in attempts if started > logged_out_at[0]]
    assert after and set(after) == {401}, attempts
    assert refresh(stack, stolen["refresh"]).status == 401


# --- 2. The login lockout loses count under parallel requests -----------------------------------

def test_forty_parallel_wrong_passwords_count_forty_and_the_lockout_answers_429(stack):
    name = signup(stack, new_name())
    answers = in_parallel([lambda: login(stack, name, "wrong-password")] * 40)
    statuses = sorted(answer.status for answer in answers)
    assert statuses == [401] * 10 + [429] * 30  # exactly LOGIN_MAX_FAILURES password checks
    assert stored(stack, keys.address_attempts_key(name, "127.0.0.1"))["count"] == 40
    assert stored(stack, keys.login_failures_key(name))["count"] == 10
    locked = login(stack, name, "secret")
    assert locked.status == 429
    assert locked.body["Code"] == "TooManyAttempts"
    assert 1 <= int(locked.headers["retry-after"]) <= 15 * 60


def test_the_right_password_among_eighty_guesses_sent_forty_at_a_time_never_logs_in(stack):
    name = signup(stack, new_name())
    guesses = ["wrong-password"] * 80
    guesses[69] = "secret"  # the 70th
    answers = []
    for batch in (guesses[:40], guesses[40:]):
        answers += in_parallel([(lambda p=p: login(stack, name, p)) for p in batch])
    statuses = [answer.status for answer in answers]
    assert 200 not in statuses
    assert statuses.count(401) == 10
    assert set(statuses[40:]) == {429}


# --- 3. Anyone can lock anyone out ---------------------------------------------------------------

def test_an_attacker_hammering_from_one_address_cannot_lock_out_the_owner_at_another(stack):
    """Needs the local server to report each client's address (see the module docstring)."""
    name = signup(stack, new_name(), source=OWNER_ADDRESS)
    jobs = [lambda: login(stack, name, "wrong-password", source=ATTACKER_ADDRESS)] * 40
    jobs += [lambda: login(stack, name, "secret", source=OWNER_ADDRESS)]
    *attack, owner = in_parallel(jobs)
    assert owner.status == 200, owner.body
    assert {answer.status for answer in attack} == {401, 429}
    assert login(stack, name, "secret", source=ATTACKER_ADDRESS).status == 429
    assert login(stack, name, "secret", source=OWNER_ADDRESS).status == 200
    assert stored(stack, keys.address_attempts_key(name, ATTACKER_ADDRESS))["count"] == 41


# --- 4. Two tabs refreshing at once log the user out ------------------------------------------

def test_ten_parallel_refreshes_of_one_token_get_one_new_pair_and_revoke_nothing(stack):
    name = signup(stack, new_name())
    session = login(stack, name).body
    answers = in_parallel([lambda: refresh(stack, session["refresh"])] * 10)
    assert [answer.status for answer in answers] == [200] * 10, [a.body for a in answers]
    pairs = {json.dumps(answer.body, sort_keys=True) for answer in answers}
    assert len(pairs) == 1
    pair = answers[0].body
    family = jwt.decode(pair["refresh"], options={"verify_signature": False})["fam"]
    assert stored(stack, keys.revoked_family_key(family)) is None
    assert call(stack, "GET", "/my-bookings/", token=pair["access"]).status == 200
    assert refresh(stack, pair["refresh"]).status == 200


# --- 5. Link headers built from the client's Host and X-Forwarded-Proto -------------------------

def test_forged_host_and_forwarded_proto_never_reach_the_link_header(stack):
    forged = {"Host": "evil.example", "X-Forwarded-Proto": "javascript", "X-Forwarded-Host": "evil.example"}
    answer = call(stack, "GET", "/movies/?limit=1", headers=forged)
    assert answer.status == 200
    link = answer.headers["link"]
    assert "evil" not in link and "javascript" not in link
    target = link[1:link.index(">")]
    assert target.startswith("/movies/?")
    assert call(stack, "GET", target).status == 200  # the relative link resolves against the API


# --- 6. Look-alike usernames ---------------------------------------------------------------------

def test_look_alike_username_is_refused_over_http(stack):
    digits = str(uuid.uuid4().int)[:8]
    signup(stack, f"scope{digits}")
    cyrillic = call(stack, "POST", "/signup/", {"username": f"\u0455\u0441\u043e\u0440\u0435{digits}",
                                                "password": "secret"})
    assert (cyrillic.status, cyrillic.body["Code"]) == (409, "UsernameTaken")
    mixed = call(stack, "POST", "/signup/", {"username": f"sc\u043epe{digits}x", "password": "secret"})
    assert (mixed.status, mixed.body["field"]) == (400, "username")


def test_look_alike_names_signing_up_at_once_get_exactly_one_account(stack):
    digits = str(uuid.uuid4().int)[:8]
    spellings = [f"scope{digits}", f"\u0455\u0441\u043e\u0440\u0435{digits}", f"SCOPE{digits}",
                 f"\uff53\uff43\uff4f\uff50\uff45{digits}", f"Sc0pe{digits}"] * 2
    answers = in_parallel([(lambda s=s: call(stack, "POST", "/signup/", {"username": s, "password": "secret"}))
                           for s in spellings])
    statuses = sorted(answer.status for answer in answers)
    assert statuses == [201] + [409] * 9, [a.body for a in answers]
    assert {a.body["Code"] for a in answers if a.status == 409} == {"UsernameTaken"}


# --- in process: Link behind an API Gateway stage ---------------------------------------------

def _gateway_get(path, resource, stage="api", domain=None, headers=None, query=None, context_path=None):
    from app import app

    context = {"resourcePath": resource, "httpMethod": "GET", "path": context_path or f"/{stage}{path}",
               "stage": stage, "requestId": str(uuid.uuid4()), "identity": {"sourceIp": "203.0.113.7"}}
    if domain:
        context["domainName"] = domain
    event = {"resource": resource, "path": path, "httpMethod": "GET",
             "headers": {"Host": "evil.example", "X-Forwarded-Proto": "javascript", **(headers or {})},
             "multiValueHeaders": {}, "queryStringParameters": query,
             "multiValueQueryStringParameters": {k: [v] for k, v in query.items()} if query else None,
             "pathParameters": None, "stageVariables": None, "requestContext": context,
             "body": None, "isBase64Encoded": False}
    return app(event, None)


def _link(answer):
    headers = {k.lower(): v for k, v in answer["headers"].items()}
    return headers["link"][1:headers["link"].index(">")]


def test_link_behind_a_gateway_uses_its_domain_and_stage_never_the_host_header(demo):
    answer = _gateway_get("/movies", "/movies", domain="abc123.execute-api.eu-west-1.amazonaws.com",
                          query={"limit": "1"})
    assert _link(answer).startswith("https://abc123.execute-api.eu-west-1.amazonaws.com/api/movies?")


def test_link_uses_the_configured_public_origin(demo, monkeypatch):
    from chalicelib import settings

    monkeypatch.setenv("PUBLIC_ORIGIN", "https://tickets.example.com/")
    settings.reset()
    try:
        answer = _gateway_get("/movies", "/movies", domain="abc123.execute-api.eu-west-1.amazonaws.com",
                              query={"limit": "1"})
        assert _link(answer).startswith("https://tickets.example.com/api/movies?")
    finally:
        settings.reset()


def test_link_never_names_a_host_through_its_path(demo):
    answer = _gateway_get("/movies", "/movies", context_path="//evil.example/movies", query={"limit": "1"})
    assert _link(answer).startswith("/evil.example/movies?")  # a path on this API, not another host


def test_a_malformed_gateway_domain_is_not_used(demo):
    answer = _gateway_get("/movies", "/movies", domain="evil.example/x?", query={"limit": "1"})
    assert _link(answer).startswith("/api/movies?")


# --- in process: the DynamoDB calls each auth request makes (docs/data-model.md) -------------

def test_signup_is_one_transaction(api):
    with counting() as calls:
        assert api.signup("alice").status_code == 201
    assert calls == ["TransactWriteItems"]


def test_login_from_a_new_address_is_four_requests_then_three(api):
    api.signup("alice")
    with counting() as first:
        assert api.login().status_code == 200
    with counting() as again:
        assert api.login().status_code == 200
    assert first == ["Query", "UpdateItem", "DeleteItem", "PutItem"]  # state, count, forget, trust
    assert again == ["Query", "UpdateItem", "DeleteItem"]


def test_failed_login_is_three_requests_and_a_locked_one_two(api):
    api.signup("alice")
    with counting() as failed:
        assert api.login("alice", "wrong-password").status_code == 401
    for _ in range(9):
        api.login("alice", "wrong-password")
    with counting() as locked:
        assert api.login("alice", "secret").status_code == 429
    assert failed == ["Query", "UpdateItem", "UpdateItem"]  # state, attempt, username failure
    assert locked == ["Query", "UpdateItem"]


def test_refresh_is_a_read_and_a_transaction(api):
    api.signup("alice")
    pair = api.login().data
    with counting() as calls:
        assert api.post("/token/refresh", {"refresh": pair["refresh"]}).status_code == 200
    assert calls == ["GetItem", "TransactWriteItems"]


def test_logout_everywhere_is_one_update(api):
    api.signup("alice")
    pair = api.login().data
    with counting() as calls:
        assert api.request("POST", "/logout/", token=pair["access"]).status_code == 204
    assert calls == ["UpdateItem"]
