"""The webhook admin API and the waitlist in process (chalice.test Client on moto): bad input is a clear
4xx and stores nothing; secrets are shown once; deployed stages never deliver to private addresses."""
import base64

import pytest

from chalicelib import auth, settings, storage, webhooks


@pytest.fixture
def admin_token(api):
    auth.create_user("boss", "boss-password", role=auth.ROLE_ADMIN)
    return api.login("boss", "boss-password").data["access"]


@pytest.fixture
def queue(aws, monkeypatch):
    """The delivery queue, on moto's SQS in this process."""
    from chalicelib import queues

    queues.reset()
    url = queues.client().create_queue(QueueName="webhook-deliveries")["QueueUrl"]
    monkeypatch.setenv("WEBHOOK_QUEUE_URL", url)
    settings.reset()
    yield url
    queues.reset()


def stored_endpoints():
    return list(storage.query_all("PK = :pk", {":pk": "WEBHOOKS"}))


@pytest.mark.parametrize("body, field", [
    ({"events": ["booking.created"]}, "url"),
    ({"url": "http://127.0.0.1:9/hook"}, "events"),
    ({"url": "http://127.0.0.1:9/hook", "events": ["booking.exploded"]}, "events"),
    ({"url": "http://127.0.0.1:9/hook", "events": []}, "events"),
    ({"url": "ftp://127.0.0.1/hook", "events": ["*"]}, "url"),
    ({"url": "http://user:pw@127.0.0.1/hook", "events": ["*"]}, "url"),
])
def test_a_bad_webhook_is_a_400_naming_the_field_and_stores_nothing(api, admin_token, body, field):
    response = api.post("/webhooks/", body, token=admin_token)
    assert response.status_code == 400 and response.data["field"] == field, response.data
    assert stored_endpoints() == []


def test_the_secret_is_shown_once_and_is_what_the_service_signs_with(api, admin_token):
    created = api.post("/webhooks/", {"url": "http://127.0.0.1:9/hook", "events": ["*"]}, token=admin_token).data
    listed = api.get("/webhooks/", token=admin_token).data
    assert created["secret"].startswith("whsec_") and all("secret" not in w for w in listed)
    (item,) = stored_endpoints()
    assert base64.b64decode(item["secret"]) == base64.b64decode(created["secret"].removeprefix("whsec_"))


def test_unknown_webhook_and_delivery_ids_are_404(api, admin_token, queue):
    assert api.post("/webhooks/0123456789abcdef01234567/test/", token=admin_token).status_code == 404
    assert api.get("/webhooks/not-an-id/deliveries/", token=admin_token).status_code == 404
    hook = api.post("/webhooks/", {"url": "http://127.0.0.1:9/hook", "events": ["*"]}, token=admin_token).data
    assert api.post(f"/webhooks/{hook['id']}/deliveries/nope/retry/", token=admin_token).status_code == 404


def test_a_test_event_is_stored_as_a_pending_delivery_and_queued(api, admin_token, queue):
    from chalicelib import queues

    hook = api.post("/webhooks/", {"url": "http://127.0.0.1:9/hook", "events": ["booking.created"]},
                    token=admin_token).data
    response = api.post(f"/webhooks/{hook['id']}/test/", token=admin_token)
    assert response.status_code == 202 and response.data["status"] == "pending"
    (message,) = queues.client().receive_message(QueueUrl=queue)["Messages"]
    assert response.data["id"] in message["Body"]


def test_a_deployed_stage_never_connects_to_a_loopback_or_private_address(aws, monkeypatch):
    monkeypatch.setenv("STAGE", "prod")
    settings.reset()
    endpoint = {"id": "x", "url": "https://localhost/hook", "secret": base64.b64encode(b"k" * 24).decode()}
    delivery = {"event_id": "evt_1", "body": "{}"}
    status, error = webhooks.post(endpoint, delivery, 0)
    assert status is None and "may not reach" in error
    status, error = webhooks.post({**endpoint, "url": "http://93.184.216.34/hook"}, delivery, 0)
    assert status is None and "https" in error


# --- waitlist ----------------------------------------------------------------------------------

@pytest.mark.parametrize("body, status, code", [
    ({"quantity": 0}, 400, "ValidationError"),
    ({"quantity": 2, "category": "balcony"}, 400, "ValidationError"),
    ({"quantity": 2}, 409, "SeatsAvailable"),
])
def test_joining_a_waitlist_with_bad_input_or_free_seats_is_refused_and_stores_nothing(api, alice, body, status,
                                                                                          code):
    response = api.post("/shows/1/waitlist/", body, token=alice)
    assert (response.status_code, response.data["Code"]) == (status, code)
    assert api.get("/my-waitlist/", token=alice).data == []


def test_the_waitlist_of_an_unknown_show_is_404(api, alice):
    assert api.post("/shows/999999/waitlist/", {"quantity": 1}, token=alice).status_code == 404


def small_show(total_seats):
    import datetime as dt

    from chalicelib import catalog
    from chalicelib.db import shows

    starts = dt.datetime.now(dt.timezone.utc).replace(microsecond=0) + dt.timedelta(days=5)
    storage.put(shows.show_item(catalog.show_record(777, 1, "Small screen", starts, total_seats)))
    return 777


def test_joining_twice_answers_the_same_entry(api, alice, bob):
    show = small_show(4)
    assert api.post(f"/shows/{show}/book/", {"seat_numbers": [1, 2, 3, 4]}, token=bob).status_code == 201
    first = api.post(f"/shows/{show}/waitlist/", {"quantity": 2}, token=alice)
    second = api.post(f"/shows/{show}/waitlist/", {"quantity": 2}, token=alice)
    assert (first.status_code, second.status_code) == (201, 200)
    assert first.data["id"] == second.data["id"] and first.data["position"] == 1
    assert [e["id"] for e in api.get("/my-waitlist/", token=alice).data] == [first.data["id"]]
