"""DynamoDB faults: throttling, 5xx, transaction conflicts and lost responses, injected under the real client.

The faults are injected with botocore's own ``before-send`` event on the moto-backed client, so every
request still goes through botocore's standard retry handler exactly as in Lambda. After each fault
the stored state is audited: no lost booking, no double booking, no orphaned seat lock, no cancelled
booking that still holds its seat.

moto does not honour ``ClientRequestToken`` (see shared/README.md); ``Faults(honour_request_tokens=True)``
emulates DynamoDB's rule that a TransactWriteItems retried with the token of a call that succeeded
returns success without writing again. Tests without it show the app's own defence for endpoints that
ignore the token (moto, the local stack).
"""
import io
import json
import os
from collections import Counter

import pytest
from botocore.awsrequest import AWSResponse
from botocore.exceptions import ReadTimeoutError
from botocore.retries import standard
from moto.core.models import botocore_stubber  # moto's in-process endpoint, which mock_aws switches on

from chalicelib import bookings, keys, settings, storage

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
THROTTLE = ("ProvisionedThroughputExceededException", 400)
THROTTLING = ("ThrottlingException", 400)
SERVER_ERROR = ("InternalServerError", 500)
CONFLICT = "conflict"  # TransactionCanceledException whose reason is TransactionConflict
LOST = "lost"  # the request reaches DynamoDB and is applied; the response never arrives (read timeout)


class _Body(io.BytesIO):
    def stream(self, **kwargs):
        contents = self.read()
        while contents:
            yield contents
            contents = self.read()


def _response(request, status, body):
    headers = {"Content-Type": "application/x-amz-json-1.0", "x-amzn-RequestId": "injected-fault"}
    return AWSResponse(request.url, status, headers, _Body(json.dumps(body).encode("utf-8")))


def _error(request, code, status, **extra):
    return _response(request, status, {"__type": f"com.amazonaws.dynamodb.v20120810#{code}",
                                       "message": f"injected {code}", **extra})


class Faults:
    """Plays a script of faults per DynamoDB operation, one step per HTTP attempt, then lets calls through.

    It replaces moto's ``before-send`` handler on this one client and calls it itself, so an injected
    error never reaches moto (nothing is written) while a LOST step is written and then times out.
    """

    def __init__(self, client, honour_request_tokens):
        self.client = client
        self.honour_request_tokens = honour_request_tokens
        self.scripts = {}
        self.attempts = Counter()
        self.succeeded_tokens = set()
        client.meta.events.unregister("before-send", botocore_stubber)
        client.meta.events.register("before-send.dynamodb", self._send)

    def script(self, operation, *steps, then=None):
        """``steps`` are played in order, then ``then`` (None: the real call) for every later attempt."""
        self.scripts[operation] = (list(steps), then)

    def always(self, operation, step):
        self.script(operation, then=step)

    def clear(self):
        self.scripts.clear()

    def _send(self, request, event_name, **kwargs):
        operation = event_name.rsplit(".", 1)[-1]
        self.attempts[operation] += 1
        steps, then = self.scripts.get(operation, ([], None))
        step = steps.pop(0) if steps else then
        if step is None:
            return self._dynamodb(request, event_name, operation)
        if step == LOST:
            self._dynamodb(request, event_name, operation)
            raise ReadTimeoutError(endpoint_url=request.url)
        if step == CONFLICT:
            items = json.loads(request.body)["TransactItems"]
            reasons = [{"Code": "TransactionConflict", "Message": "Transaction is ongoing for the item"}]
            reasons += [{"Code": "None"}] * (len(items) - 1)
            return _error(request, "TransactionCanceledException", 400, CancellationReasons=reasons)
        code, status = step
        return _error(request, code, status)

    def _dynamodb(self, request, event_name, operation):
        token = None
        if operation == "TransactWriteItems" and self.honour_request_tokens:
            token = json.loads(request.body).get("ClientRequestToken")
            if token in self.succeeded_tokens:
                return _response(request, 200, {})
        response = botocore_stubber(event_name=event_name, request=request)
        if token and response.status_code == 200:
            self.succeeded_tokens.add(token)
        return response


@pytest.fixture(autouse=True)
def no_backoff_sleep(monkeypatch):
    """botocore still decides every retry; only its jittered sleep is skipped to keep the suite fast."""
    monkeypatch.setattr(standard.ExponentialBackoff, "delay_amount", lambda self, context: 0)


@pytest.fixture
def faults(aws):
    """Faults on the app's DynamoDB client, with DynamoDB's ClientRequestToken idempotency emulated."""
    return Faults(aws, honour_request_tokens=True)


@pytest.fixture
def moto_faults(aws):
    """Faults on the app's DynamoDB client, with moto's behaviour: ClientRequestToken ignored."""
    return Faults(aws, honour_request_tokens=False)


@pytest.fixture
def alice(api, demo):
    return api.token_for("alice")


# --- helpers -------------------------------------------------------------------------------------

def _items(ddb):
    items, start = [], {}
    while True:
        page = ddb.scan(TableName=storage.table_name(), ConsistentRead=True, **start)
        items += [storage.from_item(i) for i in page["Items"]]
        if "LastEvaluatedKey" not in page:
            return items
        start = {"ExclusiveStartKey": page["LastEvaluatedKey"]}


def audit(ddb):
    """Check the booking invariants on the stored items; returns (active bookings, cancelled bookings)."""
    items = _items(ddb)
    seats = {(i["show"], i["seat_number"]): i for i in items if i["SK"].startswith(keys.SEAT_PREFIX)}
    all_bookings = [i for i in items if i["SK"].startswith(keys.BOOKING_PREFIX)]
    active = [b for b in all_bookings if b["status"] == bookings.BOOKED]
    cancelled = [b for b in all_bookings if b["status"] == bookings.CANCELLED]
    assert len(active) + len(cancelled) == len(all_bookings), "unknown booking status"

    places = [(b["show"], b["seat_number"]) for b in active]
    assert len(places) == len(set(places)), "double booking: two active bookings for one seat"
    for booking in active:
        seat = seats.get((booking["show"], booking["seat_number"]))
        assert seat is not None, f"lost seat lock: active booking {booking['id']} holds no seat"
        assert (seat["booking_id"], seat["user"]) == (booking["id"], booking["user"]), "seat names another booking"
    active_ids = {b["id"] for b in active}
    for place, seat in seats.items():
        assert seat["booking_id"] in active_ids, f"orphaned seat lock {place}: no active booking names it"
    for booking in cancelled:
        seat = seats.get((booking["show"], booking["seat_number"]))
        assert seat is None or seat["booking_id"] != booking["id"], "cancelled booking still holds its seat"
    return active, cancelled


def _assert_503(response):
    assert response.status_code == 503, response.body
    assert response.data["Code"] == "ServiceUnavailable"
    assert int(response.headers["Retry-After"]) >= 1
    assert response.data["request_id"]
    assert response.data["request_id"] == response.headers["X-Request-Id"]


def _book(api, token, seat=5, show=1, **kw):
    return api.post(f"/shows/{show}/book/", {"seat_number": seat}, token=token, **kw)


def _max_attempts():
    return storage.client().meta.config.retries["total_max_attempts"]


# --- configuration -------------------------------------------------------------------------------

def test_dynamodb_client_uses_standard_retries_with_bounded_attempts_and_timeouts(aws):
    config = storage.client().meta.config
    assert config.retries["mode"] == "standard"
    assert 2 <= config.retries["total_max_attempts"] <= 5
    assert 0 < config.connect_timeout <= 2
    assert 0 < config.read_timeout <= 5


def test_dynamodb_retries_fit_inside_the_lambda_timeout_of_every_deployed_stage(aws):
    """A hung DynamoDB must end in our JSON 503, not in a Lambda timeout (API Gateway's bare 5xx).

    Booking makes two DynamoDB calls in sequence; each may wait connect + read timeout per attempt.
    """
    config = storage.client().meta.config
    worst_case = 2 * config.retries["total_max_attempts"] * (config.connect_timeout + config.read_timeout)
    with open(os.path.join(ROOT, ".chalice", "config.json")) as f:
        stages = json.load(f)["stages"]
    for name, stage in stages.items():
        if name in settings.LOCAL_STAGES:
            continue
        lambda_timeout = stage.get("lambda_timeout", 60)
        assert worst_case < lambda_timeout, (
            f"stage {name}: DynamoDB retries may take {worst_case}s, Lambda stops at {lambda_timeout}s")


# --- booking under faults --------------------------------------------------------------------

def test_booking_succeeds_when_throttling_clears_within_the_retries(api, alice, faults, aws):
    faults.script("TransactWriteItems", THROTTLE, THROTTLING)
    response = _book(api, alice)
    assert response.status_code == 201
    assert faults.attempts["TransactWriteItems"] == 3  # botocore itself retried the two throttles
    active, _ = audit(aws)
    assert [b["id"] for b in active] == [response.data["id"]]


@pytest.mark.parametrize("fault", [THROTTLE, THROTTLING, SERVER_ERROR],
                         ids=["provisioned-throughput-exceeded", "throttling", "internal-server-error"])
def test_booking_answers_503_when_the_fault_outlasts_the_retries_and_stores_nothing(api, alice, faults, aws, fault):
    faults.always("TransactWriteItems", fault)
    _assert_503(_book(api, alice))
    assert faults.attempts["TransactWriteItems"] == _max_attempts()
    assert audit(aws) == ([], [])


def test_booking_after_a_503_goes_through_once_dynamodb_recovers(api, alice, faults, aws):
    faults.always("TransactWriteItems", THROTTLE)
    _assert_503(_book(api, alice))
    faults.clear()
    response = _book(api, alice)
    assert response.status_code == 201
    assert len(audit(aws)[0]) == 1


def test_booking_answers_503_when_reading_the_show_is_throttled(api, alice, faults, aws):
    faults.always("GetItem", THROTTLE)
    _assert_503(_book(api, alice))
    assert faults.attempts["TransactWriteItems"] == 0
    assert audit(aws) == ([], [])


def test_booking_retries_a_transaction_conflict_and_books_once(api, alice, faults, aws):
    faults.script("TransactWriteItems", CONFLICT)
    response = _book(api, alice)
    assert response.status_code == 201
    active, _ = audit(aws)
    assert [b["id"] for b in active] == [response.data["id"]]


def test_booking_answers_503_when_transaction_conflicts_persist_and_stores_nothing(api, alice, faults, aws):
    faults.always("TransactWriteItems", CONFLICT)
    _assert_503(_book(api, alice))
    assert faults.attempts["TransactWriteItems"] == storage.TRANSACTION_ATTEMPTS
    assert audit(aws) == ([], [])


def test_booking_whose_dynamodb_response_was_lost_is_stored_once(api, alice, faults, aws):
    faults.script("TransactWriteItems", LOST)
    response = _book(api, alice)
    assert response.status_code == 201
    assert faults.attempts["TransactWriteItems"] == 2
    active, _ = audit(aws)
    assert [b["id"] for b in active] == [response.data["id"]]


def test_booking_whose_response_was_lost_is_recognised_where_request_tokens_are_ignored(
        api, alice, moto_faults, aws):
    moto_faults.script("TransactWriteItems", LOST)
    response = _book(api, alice)
    assert response.status_code == 201
    active, _ = audit(aws)
    assert [b["id"] for b in active] == [response.data["id"]]


def test_booking_whose_every_response_was_lost_answers_503_and_keeps_one_consistent_booking(
        api, alice, moto_faults, aws):
    moto_faults.always("TransactWriteItems", LOST)
    _assert_503(_book(api, alice))
    active, _ = audit(aws)  # the write landed: a whole booking, not half of one
    assert len(active) == 1


def test_booking_retried_by_the_user_after_a_lost_response_ends_with_exactly_one_booking(
        api, alice, moto_faults, aws):
    moto_faults.always("TransactWriteItems", LOST)
    _assert_503(_book(api, alice))
    moto_faults.clear()
    retry = _book(api, alice)
    assert retry.status_code in (200, 201)
    active, _ = audit(aws)
    assert [b["id"] for b in active] == [retry.data["id"]]
    assert [b["id"] for b in api.get("/my-bookings/", token=alice).data] == [retry.data["id"]]


def test_booking_retried_with_its_idempotency_key_after_a_lost_response_replays_one_booking(
        api, alice, moto_faults, aws):
    key = {"Idempotency-Key": "book-seat-5-attempt"}
    moto_faults.always("TransactWriteItems", LOST)
    _assert_503(_book(api, alice, headers=key))
    moto_faults.clear()
    retry = _book(api, alice, headers=key)
    assert retry.status_code == 201
    active, _ = audit(aws)
    assert [b["id"] for b in active] == [retry.data["id"]]


def test_another_user_cannot_take_a_seat_whose_booking_response_was_lost(api, alice, moto_faults, aws):
    moto_faults.always("TransactWriteItems", LOST)
    _assert_503(_book(api, alice))
    moto_faults.clear()
    bob = api.token_for("bob")
    assert _book(api, bob).status_code == 409
    active, _ = audit(aws)
    assert [b["user"] for b in active] == ["alice"]


# --- cancelling under faults ---------------------------------------------------------------

@pytest.fixture
def booked(api, alice):
    response = _book(api, alice)
    assert response.status_code == 201
    return response.data


def _cancel(api, token, booking, **kw):
    return api.post(f"/bookings/{booking['id']}/cancel/", token=token, **kw)


@pytest.mark.parametrize("fault", [THROTTLE, THROTTLING, SERVER_ERROR],
                         ids=["provisioned-throughput-exceeded", "throttling", "internal-server-error"])
def test_cancel_answers_503_when_the_fault_outlasts_the_retries_and_keeps_the_booking(
        api, alice, booked, faults, aws, fault):
    faults.always("TransactWriteItems", fault)
    _assert_503(_cancel(api, alice, booked))
    active, cancelled = audit(aws)
    assert [b["id"] for b in active] == [booked["id"]] and cancelled == []


def test_cancel_answers_503_when_reading_the_booking_is_throttled(api, alice, booked, faults, aws):
    faults.always("GetItem", THROTTLING)
    _assert_503(_cancel(api, alice, booked))
    assert [b["id"] for b in audit(aws)[0]] == [booked["id"]]


def test_cancel_retries_a_transaction_conflict_and_frees_the_seat(api, alice, booked, faults, aws):
    faults.script("TransactWriteItems", CONFLICT)
    response = _cancel(api, alice, booked)
    assert response.status_code == 200
    assert response.data["status"] == "cancelled"
    active, cancelled = audit(aws)
    assert active == [] and [b["id"] for b in cancelled] == [booked["id"]]


def test_cancel_answers_503_when_transaction_conflicts_persist_and_keeps_the_booking(
        api, alice, booked, faults, aws):
    faults.always("TransactWriteItems", CONFLICT)
    _assert_503(_cancel(api, alice, booked))
    active, cancelled = audit(aws)
    assert [b["id"] for b in active] == [booked["id"]] and cancelled == []


def test_cancel_whose_dynamodb_response_was_lost_is_applied_once(api, alice, booked, faults, aws):
    faults.script("TransactWriteItems", LOST)
    response = _cancel(api, alice, booked)
    assert response.status_code == 200
    active, cancelled = audit(aws)
    assert active == [] and [b["id"] for b in cancelled] == [booked["id"]]


def test_cancel_whose_response_was_lost_is_not_reported_as_already_cancelled_where_request_tokens_are_ignored(
        api, alice, booked, moto_faults, aws):
    """botocore's retry of our own landed cancel must not turn a success into 409 AlreadyCancelled."""
    moto_faults.script("TransactWriteItems", LOST)
    response = _cancel(api, alice, booked)
    active, cancelled = audit(aws)
    assert active == [] and [b["id"] for b in cancelled] == [booked["id"]]
    assert response.status_code == 200, response.body


def test_cancel_whose_every_response_was_lost_leaves_a_cancelled_booking_and_a_free_seat(
        api, alice, booked, moto_faults, aws):
    moto_faults.always("TransactWriteItems", LOST)
    _assert_503(_cancel(api, alice, booked))
    active, cancelled = audit(aws)
    assert active == [] and [b["id"] for b in cancelled] == [booked["id"]]
    moto_faults.clear()
    assert _book(api, api.token_for("bob")).status_code == 201  # the seat really is free
    audit(aws)


def test_cancel_retried_with_its_idempotency_key_after_a_lost_response_replays_the_cancellation(
        api, alice, booked, moto_faults, aws):
    key = {"Idempotency-Key": "cancel-attempt-1"}
    moto_faults.always("TransactWriteItems", LOST)
    _assert_503(_cancel(api, alice, booked, headers=key))
    moto_faults.clear()
    retry = _cancel(api, alice, booked, headers=key)
    assert retry.status_code == 200
    assert retry.data["status"] == "cancelled"
    audit(aws)


def test_rebooking_a_seat_freed_under_faults_leaves_one_active_booking(api, alice, booked, faults, aws):
    faults.script("TransactWriteItems", CONFLICT, THROTTLE)
    assert _cancel(api, alice, booked).status_code == 200
    faults.script("TransactWriteItems", LOST)
    bob = api.token_for("bob")
    rebooked = _book(api, bob)
    assert rebooked.status_code == 201
    active, cancelled = audit(aws)
    assert [(b["user"], b["id"]) for b in active] == [("bob", rebooked.data["id"])]
    assert [b["id"] for b in cancelled] == [booked["id"]]


# --- accounts and sessions under faults ------------------------------------------------------

def test_signup_whose_response_was_lost_creates_the_user_once_and_answers_201(api, demo, moto_faults, aws):
    moto_faults.script("TransactWriteItems", LOST)
    response = api.signup("carol")
    assert response.status_code == 201, response.body
    assert api.login("carol").status_code == 200


def test_signup_answers_503_when_dynamodb_fails_and_creates_no_user(api, demo, faults, aws):
    faults.always("TransactWriteItems", SERVER_ERROR)
    _assert_503(api.signup("carol"))
    faults.clear()
    assert api.signup("carol").status_code == 201  # nothing half-made blocks the name


def test_login_answers_503_not_401_when_dynamodb_is_throttled(api, demo, faults):
    api.signup("alice")
    faults.always("Query", THROTTLE)
    _assert_503(api.login("alice", "secret"))
    _assert_503(api.login("alice", "wrong-password"))


def test_refresh_whose_response_was_lost_does_not_revoke_the_session(api, demo, moto_faults):
    api.signup("alice")
    pair = api.login().data
    moto_faults.script("TransactWriteItems", LOST)
    rotated = api.post("/token/refresh", {"refresh": pair["refresh"]})
    assert rotated.status_code == 200, rotated.body
    moto_faults.clear()
    assert api.post("/token/refresh", {"refresh": rotated.data["refresh"]}).status_code == 200


def test_refresh_whose_response_was_lost_succeeds_with_request_tokens_honoured(api, demo, faults):
    api.signup("alice")
    pair = api.login().data
    faults.script("TransactWriteItems", LOST)
    assert api.post("/token/refresh", {"refresh": pair["refresh"]}).status_code == 200


def test_refresh_retries_a_transaction_conflict(api, demo, faults):
    api.signup("alice")
    pair = api.login().data
    faults.script("TransactWriteItems", CONFLICT)
    assert api.post("/token/refresh", {"refresh": pair["refresh"]}).status_code == 200


@pytest.mark.parametrize("fault", [CONFLICT, THROTTLE], ids=["conflict", "throttle"])
def test_refresh_answers_503_when_the_fault_persists_and_the_token_stays_usable(api, demo, faults, fault):
    api.signup("alice")
    pair = api.login().data
    faults.always("TransactWriteItems", fault)
    _assert_503(api.post("/token/refresh", {"refresh": pair["refresh"]}))
    faults.clear()
    assert api.post("/token/refresh", {"refresh": pair["refresh"]}).status_code == 200


def test_logout_racing_a_rotation_is_retried_and_still_revokes(api, demo, faults):
    """A put on the family item that a rotation's transaction holds fails with TransactionConflictException."""
    api.signup("alice")
    pair = api.login().data
    faults.script("PutItem", ("TransactionConflictException", 400))
    assert api.post("/logout", {"refresh": pair["refresh"]}).status_code == 204
    faults.clear()
    assert api.post("/token/refresh", {"refresh": pair["refresh"]}).status_code == 401


def test_logout_answers_503_when_conflicts_persist(api, demo, faults):
    api.signup("alice")
    pair = api.login().data
    faults.always("PutItem", ("TransactionConflictException", 400))
    _assert_503(api.post("/logout", {"refresh": pair["refresh"]}))


def test_unexpected_dynamodb_error_is_a_generic_json_500_that_leaks_nothing(api, alice, faults):
    faults.always("TransactWriteItems", ("ValidationException", 400))
    response = _book(api, alice)
    assert response.status_code == 500
    assert response.data["Code"] == "InternalServerError"
    assert "ValidationException" not in response.body.decode()
    assert response.data["request_id"]
