"""Events over HTTP against the live stack (chalice local + the engine + scripts/local_events.py):
webhooks signed per Standard Webhooks, retried until delivered exactly once, and a waitlist that is
offered freed seats (and passes an unconfirmed offer on)."""
import http.server
import json
import subprocess
import sys
import threading
import time

import pytest
from standardwebhooks.webhooks import Webhook

from conftest import LIVE_HOLD_SECONDS, LIVE_RETRY_SCHEDULE, ROOT
from test_concurrency import call as http_call

WAIT_SECONDS = 20


class Receiver:
    """A webhook endpoint on loopback: records every request; answers the statuses given, then 200."""

    def __init__(self, statuses=()):
        self.requests, self.statuses, self.lock = [], list(statuses), threading.Lock()
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
                with receiver.lock:
                    receiver.requests.append((dict(self.headers), body))
                    status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def events(self, event_type=None):
        with self.lock:
            found = [(headers, json.loads(body)) for headers, body in self.requests]
        return [(h, b) for h, b in found if event_type is None or b["type"] == event_type]

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def call(stack, method, path, body=None, token=None):
    return http_call(stack.base_url, method, path, body, token=token)


def token(stack, username):
    call(stack, "POST", "/signup", {"username": username, "password": "secret-pw"})
    return call(stack, "POST", "/login", {"username": username, "password": "secret-pw"})[1]["access"]


def eventually(check, seconds=WAIT_SECONDS):
    deadline = time.monotonic() + seconds
    while True:
        result = check()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(0.1)


@pytest.fixture(scope="module")
def admin(live_stack):
    subprocess.run([sys.executable, "-m", "chalicelib.cli", "create-admin", "hookadmin", "--password-stdin"],
                   input="hook-admin-pw\n", text=True, cwd=ROOT, env=live_stack.env, check=True, timeout=60,
                   capture_output=True)
    return call(live_stack, "POST", "/login", {"username": "hookadmin", "password": "hook-admin-pw"})[1]["access"]


@pytest.fixture
def webhook(live_stack, admin):
    """``webhook(events, statuses=())`` -> (a receiver, its registered endpoint); both removed after the
    test, so that later tests' bookings on the shared stack are not delivered to a closed receiver."""
    made = []

    def make(events, statuses=()):
        receiver = Receiver(statuses)
        status, created = call(live_stack, "POST", "/webhooks/", {"url": receiver.url, "events": events,
                                                                 "description": "test receiver"}, admin)
        assert status == 201, created
        made.append((receiver, created))
        return receiver, created

    yield make
    for receiver, created in made:
        call(live_stack, "DELETE", f"/webhooks/{created['id']}/", token=admin)  # 404 if the test deleted it
        receiver.close()


def test_a_booking_reaches_the_webhook_signed_as_standard_webhooks_verifies_it(live_stack, admin, webhook):
    receiver, hook = webhook(["booking.created"])
    show = live_stack.add_show(total_seats=20)
    customer = token(live_stack, "hooked")
    status, booking = call(live_stack, "POST", f"/shows/{show}/book/", {"seat_number": 5}, customer)
    assert status == 201

    def mine():
        return [e for e in receiver.events("booking.created") if e[1]["data"]["id"] == booking["id"]]

    assert eventually(mine)
    headers, body = mine()[0]
    raw = next(b for h, b in receiver.requests if h["webhook-id"] == headers["webhook-id"])
    verified = Webhook(hook["secret"]).verify(raw, {k.lower(): v for k, v in headers.items()})
    assert verified["data"]["seat_number"] == 5 and verified["type"] == "booking.created"
    assert set(verified) == {"type", "timestamp", "data"}


def test_a_check_in_at_the_door_reaches_the_webhook_as_checkin_ok(live_stack, admin, webhook):
    receiver, _ = webhook(["checkin.ok"])
    show = live_stack.add_show(total_seats=20, days_ahead=0.01)  # starts in ~15 minutes: doors open
    customer = token(live_stack, "door-event")
    status, booking = call(live_stack, "POST", f"/shows/{show}/book/", {"seat_number": 9}, customer)
    assert status == 201
    code = call(live_stack, "GET", f"/bookings/{booking['id']}/ticket/", token=customer)[1]["code"]
    status, admitted = call(live_stack, "POST", "/check-in/", {"code": code}, admin)  # admins may check in
    assert status == 200 and admitted["result"] == "ok"

    def mine():
        return [b for _, b in receiver.events("checkin.ok") if b["data"]["booking_id"] == booking["id"]]

    assert eventually(mine)
    (event,) = mine()
    assert event["data"]["seat_number"] == 9 and event["data"]["checked_in_at"] == admitted["checked_in_at"]
    assert event["data"]["show"] == show


def test_a_receiver_failing_three_times_gets_the_event_once_after_retries(live_stack, admin, webhook):
    receiver, hook = webhook(["booking.created"], statuses=[500, 503, 502])
    show = live_stack.add_show(total_seats=20)
    call(live_stack, "POST", f"/shows/{show}/book/", {"seat_number": 2}, token(live_stack, "retried"))

    def delivered():
        status, deliveries = call(live_stack, "GET", f"/webhooks/{hook['id']}/deliveries/", token=admin)
        return [d for d in deliveries if d["status"] == "delivered"]

    done = eventually(delivered)
    assert done and done[0]["attempts"] == 4 and done[0]["last_response_code"] == 200
    ids = [h["webhook-id"] for h, _ in receiver.events()]
    assert len(ids) == 4 and len(set(ids)) == 1  # every attempt is the same message


def endpoint_status(stack, admin, hook):
    return next(w["status"] for w in call(stack, "GET", "/webhooks/", token=admin)[1] if w["id"] == hook["id"])


def test_a_410_answer_disables_the_endpoint(live_stack, admin, webhook):
    receiver, hook = webhook(["booking.created"], statuses=[410])
    call(live_stack, "POST", f"/webhooks/{hook['id']}/test/", token=admin)
    assert eventually(lambda: endpoint_status(live_stack, admin, hook) == "disabled")
    status, deliveries = call(live_stack, "GET", f"/webhooks/{hook['id']}/deliveries/", token=admin)
    assert [(d["status"], d["attempts"], d["last_response_code"]) for d in deliveries] == [("failed", 1, 410)]


def test_a_receiver_that_keeps_failing_uses_up_the_schedule_and_the_endpoint_is_marked_failing(
        live_stack, admin, webhook):
    receiver, hook = webhook(["*"], statuses=[500] * 50)
    call(live_stack, "POST", f"/webhooks/{hook['id']}/test/", token=admin)
    assert eventually(lambda: endpoint_status(live_stack, admin, hook) == "failing")
    status, (delivery,) = call(live_stack, "GET", f"/webhooks/{hook['id']}/deliveries/", token=admin)
    retries = len(LIVE_RETRY_SCHEDULE.split(","))
    assert (delivery["status"], delivery["attempts"]) == ("failed", retries + 1)
    assert len(receiver.events("webhook.test")) == retries + 1


def test_webhook_admin_lists_tests_and_deletes_an_endpoint(live_stack, admin, webhook):
    receiver, hook = webhook(["*"])
    assert hook["secret"].startswith("whsec_")
    status, listed = call(live_stack, "GET", "/webhooks/", token=admin)
    assert status == 200 and hook["id"] in [w["id"] for w in listed] and "secret" not in listed[0]
    status, delivery = call(live_stack, "POST", f"/webhooks/{hook['id']}/test/", token=admin)
    assert status == 202 and delivery["event_type"] == "webhook.test"
    assert eventually(lambda: receiver.events("webhook.test"))
    status, _ = call(live_stack, "POST", f"/webhooks/{hook['id']}/deliveries/{delivery['id']}/retry/",
                     token=admin)
    assert status == 202 and eventually(lambda: len(receiver.events("webhook.test")) == 2)
    assert call(live_stack, "DELETE", f"/webhooks/{hook['id']}/", token=admin)[0] == 204
    assert call(live_stack, "GET", f"/webhooks/{hook['id']}/deliveries/", token=admin)[0] == 404


def test_a_customer_cannot_use_the_webhook_admin_api(live_stack):
    status, body = call(live_stack, "POST", "/webhooks/", {"url": "http://127.0.0.1:1/", "events": ["*"]},
                        token(live_stack, "notadmin"))
    assert status == 403


# --- waitlist --------------------------------------------------------------------------------------

def full_show(stack, seats=4):
    """A show of ``seats`` seats, every one booked by "filler"; (show id, filler token, bookings)."""
    show = stack.add_show(total_seats=seats)
    filler = token(stack, "filler")
    status, booked = call(stack, "POST", f"/shows/{show}/book/", {"seat_numbers": list(range(1, seats + 1))}, filler)
    assert status == 201, booked
    return show, filler, booked["bookings"]


def my_entry(stack, customer, show):
    status, entries = call(stack, "GET", "/my-waitlist/", token=customer)
    assert status == 200
    return next((e for e in entries if e["show"] == show), None)


def test_joining_the_waitlist_of_a_show_with_seats_is_refused(live_stack):
    show = live_stack.add_show(total_seats=10)
    status, body = call(live_stack, "POST", f"/shows/{show}/waitlist/", {"quantity": 2}, token(live_stack, "eager"))
    assert status == 409 and body["Code"] == "SeatsAvailable"


def test_a_cancel_offers_the_seats_to_the_first_party_that_fits(live_stack):
    show, filler, bookings = full_show(live_stack)
    big, small = token(live_stack, "bigparty"), token(live_stack, "smallparty")
    status, entry = call(live_stack, "POST", f"/shows/{show}/waitlist/", {"quantity": 3}, big)
    assert status == 201 and entry["position"] == 1
    status, entry = call(live_stack, "POST", f"/shows/{show}/waitlist/", {"quantity": 2}, small)
    assert status == 201 and entry["position"] == 2
    for booking in bookings[:2]:  # two adjacent seats come back: the party of 3 does not fit
        assert call(live_stack, "POST", f"/bookings/{booking['id']}/cancel/", token=filler)[0] == 200

    offered = eventually(lambda: (my_entry(live_stack, small, show) or {}).get("status") == "offered")
    assert offered
    entry = my_entry(live_stack, small, show)
    status, hold = call(live_stack, "GET", f"/holds/{entry['offer_hold_id']}/", token=small)
    assert status == 200 and sorted(hold["seat_numbers"]) == [1, 2] and hold["status"] == "held"
    assert my_entry(live_stack, big, show)["status"] == "waiting"  # keeps its place


def test_an_unconfirmed_offer_expires_and_passes_to_the_next_party(live_stack):
    show, filler, bookings = full_show(live_stack)
    first, second = token(live_stack, "slowparty"), token(live_stack, "nextparty")
    for customer in (first, second):
        assert call(live_stack, "POST", f"/shows/{show}/waitlist/", {"quantity": 1}, customer)[0] == 201
    assert call(live_stack, "POST", f"/bookings/{bookings[0]['id']}/cancel/", token=filler)[0] == 200

    assert eventually(lambda: (my_entry(live_stack, first, show) or {}).get("status") == "offered")
    # never confirmed: after HOLD_SECONDS the sweep records the expiry and the seat goes to the next party
    assert eventually(lambda: (my_entry(live_stack, second, show) or {}).get("status") == "offered",
                      seconds=LIVE_HOLD_SECONDS + WAIT_SECONDS)
    assert my_entry(live_stack, first, show) is None  # lapsed: no longer on the list
    entry = my_entry(live_stack, second, show)
    assert call(live_stack, "POST", f"/holds/{entry['offer_hold_id']}/confirm/", token=second)[0] == 201


def test_leaving_the_waitlist(live_stack):
    show, _, _ = full_show(live_stack, seats=2)
    customer = token(live_stack, "leaver")
    assert call(live_stack, "POST", f"/shows/{show}/waitlist/", {"quantity": 1}, customer)[0] == 201
    assert call(live_stack, "DELETE", f"/shows/{show}/waitlist/", token=customer)[0] == 204
    assert my_entry(live_stack, customer, show) is None
    assert call(live_stack, "DELETE", f"/shows/{show}/waitlist/", token=customer)[0] == 404
