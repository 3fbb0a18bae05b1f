"""Door check-in (issue 19): staff let each ticket in once; cancelled, foreign-show, too-early and
forged tickets are refused with their reason; a checked-in booking cannot be cancelled; a door
device's offline scans are uploaded later; two doors scanning one ticket at once admit it once."""
import concurrent.futures
import datetime as dt

import pytest

from test_concurrency import call as _call
from test_request_counts import counting

from chalicelib import auth, catalog, clock, settings, storage, ticket_keys
from chalicelib.db import shows as show_items

SOON = 900  # a show starting in 15 minutes: its doors are open


@pytest.fixture(autouse=True)
def fresh_keys():
    ticket_keys.reset()
    yield
    ticket_keys.reset()


def add_show(show_id, starts_in_seconds, total_seats=20):
    starts = dt.datetime.fromtimestamp(int(clock.now() + starts_in_seconds), dt.timezone.utc)
    show_items.put_new(catalog.show_record(show_id, 1, "Screen 7", starts, total_seats))
    return show_id


@pytest.fixture
def staff(api, demo):
    auth.create_user("door1", "door-secret", role=auth.ROLE_STAFF)
    return api.login("door1", "door-secret").data["access"]


@pytest.fixture
def show(demo):
    """Show 50 of movie 1, starting in 15 minutes."""
    return add_show(50, SOON)


def booking_and_code(api, token, show_id, seat=3):
    booked = api.post(f"/shows/{show_id}/book/", {"seat_number": seat}, token=token)
    assert booked.status_code == 201, booked.body
    ticket = api.get(f"/bookings/{booked.data['id']}/ticket/", token=token)
    assert ticket.status_code == 200, ticket.body
    return booked.data["id"], ticket.data["code"]


# --- one scan --------------------------------------------------------------------------------

def test_staff_check_a_ticket_in_and_see_its_seat(api, alice, staff, show):
    booking_id, code = booking_and_code(api, alice, show, seat=3)
    response = api.post("/check-in/", {"code": code}, token=staff)
    assert response.status_code == 200
    assert response.data["result"] == "ok"
    assert (response.data["seat_label"], response.data["show"], response.data["booking_id"]) == ("A3", show, booking_id)
    assert response.data["checked_in_by"] == "door1"


def test_a_second_scan_of_a_ticket_is_refused_with_the_first_check_in_time(api, alice, staff, show):
    _, code = booking_and_code(api, alice, show)
    first = api.post("/check-in/", {"code": code}, token=staff).data
    again = api.post("/check-in/", {"code": code}, token=staff)
    assert again.status_code == 409
    assert again.data["Code"] == "AlreadyCheckedIn"
    assert again.data["checked_in_at"] == first["checked_in_at"]


def test_the_seat_lock_records_checked_in_at_and_by(api, alice, staff, show):
    booking_id, code = booking_and_code(api, alice, show, seat=3)
    api.post("/check-in/", {"code": code}, token=staff)
    lock = storage.get({"PK": f"SHOW#{show:08d}", "SK": "SEAT#0003"})
    assert lock["booking_id"] == booking_id and lock["checked_in_by"] == "door1"
    assert clock.parse_iso(lock["checked_in_at"]) == pytest.approx(clock.now(), abs=5)
    assert "checked_in_at" not in storage.get({"PK": "USER#alice", "SK": f"BOOKING#{booking_id}"})


def test_the_ticket_says_when_it_was_let_in(api, alice, staff, show):
    booking_id, code = booking_and_code(api, alice, show)
    assert "checked_in_at" not in api.get(f"/bookings/{booking_id}/ticket/", token=alice).data
    admitted = api.post("/check-in/", {"code": code}, token=staff).data
    assert api.get(f"/bookings/{booking_id}/ticket/", token=alice).data["checked_in_at"] == admitted["checked_in_at"]


def test_a_warm_check_in_is_one_conditional_update(api, alice, staff, show):
    _, code = booking_and_code(api, alice, show)
    with counting() as calls:
        assert api.post("/check-in/", {"code": code}, token=staff).status_code == 200
    assert calls == ["UpdateItem"]
    with counting() as calls:
        assert api.post("/check-in/", {"code": code}, token=staff).status_code == 409
    assert calls == ["UpdateItem"]  # the refusal says why: no read


def test_a_cold_check_in_reads_the_show_once_then_writes(api, alice, staff, show):
    _, code = booking_and_code(api, alice, show)
    show_items.forget(show)  # a function that has not read the show in the last 30 s
    with counting() as calls:
        assert api.post("/check-in/", {"code": code}, token=staff).status_code == 200
    assert calls == ["GetItem", "UpdateItem"]


def test_a_cancelled_booking_is_refused_at_the_door(api, alice, staff, show):
    booking_id, code = booking_and_code(api, alice, show)
    api.post(f"/bookings/{booking_id}/cancel/", token=alice)
    response = api.post("/check-in/", {"code": code}, token=staff)
    assert response.status_code == 409 and response.data["Code"] == "BookingCancelled"


def test_a_cancelled_booking_whose_seat_was_booked_again_is_refused_and_the_new_one_let_in(api, alice, bob, staff,
                                                                                          show):
    booking_id, old_code = booking_and_code(api, alice, show, seat=4)
    api.post(f"/bookings/{booking_id}/cancel/", token=alice)
    new_id, new_code = booking_and_code(api, bob, show, seat=4)
    response = api.post("/check-in/", {"code": old_code}, token=staff)
    assert response.status_code == 409 and response.data["Code"] == "BookingCancelled"
    admitted = api.post("/check-in/", {"code": new_code}, token=staff)
    assert admitted.status_code == 200 and admitted.data["booking_id"] == new_id


def test_a_cancelled_booking_whose_seat_is_held_by_another_customer_is_refused(api, alice, bob, staff, show):
    booking_id, code = booking_and_code(api, alice, show, seat=6)
    api.post(f"/bookings/{booking_id}/cancel/", token=alice)
    assert api.post(f"/shows/{show}/holds/", {"seat_numbers": [6]}, token=bob).status_code == 201
    response = api.post("/check-in/", {"code": code}, token=staff)
    assert response.status_code == 409 and response.data["Code"] == "BookingCancelled"
    assert "checked_in_at" not in storage.get({"PK": f"SHOW#{show:08d}", "SK": "SEAT#0006"})


def test_a_ticket_for_another_show_is_refused_when_the_door_names_its_show(api, alice, staff, show):
    _, code = booking_and_code(api, alice, show)
    response = api.post("/check-in/", {"code": code, "show": 1}, token=staff)
    assert response.status_code == 409
    assert response.data["Code"] == "WrongShow" and response.data["ticket_show"] == show
    assert api.post("/check-in/", {"code": code, "show": show}, token=staff).status_code == 200


def test_before_doors_open_a_ticket_is_refused_as_too_early(api, alice, staff, demo):
    add_show(51, 61 * 60)  # doors open 60 minutes before: in one minute
    _, code = booking_and_code(api, alice, 51)
    response = api.post("/check-in/", {"code": code}, token=staff)
    assert response.status_code == 409 and response.data["Code"] == "TooEarly"
    assert clock.parse_iso(response.data["doors_open_at"]) == pytest.approx(clock.now() + 60, abs=5)


def test_checkin_opens_minutes_moves_the_doors(api, alice, staff, demo, monkeypatch):
    add_show(52, 61 * 60)
    _, code = booking_and_code(api, alice, 52)
    monkeypatch.setenv("CHECKIN_OPENS_MINUTES", "90")
    settings.reset()
    assert api.post("/check-in/", {"code": code}, token=staff).status_code == 200


def test_a_forged_code_is_400_invalid_ticket(api, staff, show):
    for code in ("hello", "A" * 120):
        response = api.post("/check-in/", {"code": code}, token=staff)
        assert response.status_code == 400 and response.data["Code"] == "InvalidTicket"
    assert api.post("/check-in/", {}, token=staff).status_code == 400


def test_customers_cannot_check_in(api, alice, show):
    _, code = booking_and_code(api, alice, show)
    assert api.post("/check-in/", {"code": code}, token=alice).status_code == 403
    assert api.post("/check-in/", {"code": code}).status_code == 401


def test_admins_may_check_in(api, alice, show):
    _, code = booking_and_code(api, alice, show)
    auth.create_user("boss", "boss-secret", role=auth.ROLE_ADMIN)
    boss = api.login("boss", "boss-secret").data["access"]
    assert api.post("/check-in/", {"code": code}, token=boss).status_code == 200


def test_the_cli_makes_staff(api, demo):
    import io

    from chalicelib import cli

    out = io.StringIO()
    assert cli.main(["create-staff", "door2", "--password-stdin"], stdin=io.StringIO("door-secret\n"), stdout=out) == 0
    assert cli.main(["create-admin", "door3", "--role", "staff", "--password-stdin"],
                    stdin=io.StringIO("door-secret\n"), stdout=out) == 0
    for name in ("door2", "door3"):
        assert api.login(name, "door-secret").data is not None
        assert storage.get({"PK": f"USER#{name}", "SK": "#PROFILE"})["role"] == "staff"


# --- cancel after check-in -------------------------------------------------------------------

def test_a_checked_in_booking_cannot_be_cancelled(api, alice, staff, show):
    booking_id, code = booking_and_code(api, alice, show)
    admitted = api.post("/check-in/", {"code": code}, token=staff).data
    response = api.post(f"/bookings/{booking_id}/cancel/", token=alice)
    assert response.status_code == 409
    assert response.data["Code"] == "AlreadyCheckedIn" and response.data["checked_in_at"] == admitted["checked_in_at"]
    assert 3 in api.get(f"/shows/{show}/seats/").data["taken"]
    assert api.get("/my-bookings/", token=alice).data[0]["status"] == "booked"


def test_a_check_in_landing_after_the_cancels_read_still_stops_the_cancel(api, alice, staff, show, monkeypatch):
    from chalicelib.db import bookings as booking_items

    booking_id, code = booking_and_code(api, alice, show)
    read = booking_items.get

    def read_then_door_scans(caller, wanted):
        item = read(caller, wanted)
        assert api.post("/check-in/", {"code": code}, token=staff).status_code == 200
        return item

    monkeypatch.setattr(booking_items, "get", read_then_door_scans)
    response = api.post(f"/bookings/{booking_id}/cancel/", token=alice)
    assert response.status_code == 409 and response.data["Code"] == "AlreadyCheckedIn"
    assert 3 in api.get(f"/shows/{show}/seats/").data["taken"]


# --- a show's check-ins and door list ----------------------------------------------------------

def test_check_ins_count_admitted_and_booked_and_list_them(api, alice, bob, staff, show):
    _, first = booking_and_code(api, alice, show, seat=1)
    booking_and_code(api, bob, show, seat=2)
    api.post("/check-in/", {"code": first}, token=staff)
    response = api.get(f"/shows/{show}/check-ins/", token=staff)
    assert response.status_code == 200
    assert (response.data["admitted"], response.data["booked"]) == (1, 2)
    assert [(c["seat_label"], c["checked_in_by"]) for c in response.data["check_ins"]] == [("A1", "door1")]


def test_the_door_list_has_the_valid_and_the_revoked_tickets_and_the_keys(api, alice, staff, show):
    valid_id, _ = booking_and_code(api, alice, show, seat=1)
    revoked_id, _ = booking_and_code(api, alice, show, seat=2)
    api.post(f"/bookings/{revoked_id}/cancel/", token=alice)
    door = api.get(f"/shows/{show}/door-list/", token=staff).data
    assert [v["booking_id"] for v in door["valid"]] == [valid_id]
    assert door["revoked"] == [revoked_id]
    assert door["keys"] == api.get("/tickets/keys/").data["keys"]
    assert clock.parse_iso(door["doors_open_at"]) == pytest.approx(clock.now() + SOON - 3600, abs=5)


def test_show_lists_are_for_staff_and_know_unknown_shows(api, alice, staff, demo):
    for path in ("/shows/1/check-ins/", "/shows/1/door-list/"):
        assert api.get(path, token=alice).status_code == 403
        assert api.get(path.replace("/1/", "/999/"), token=staff).status_code == 404


# --- offline scans, uploaded later -------------------------------------------------------------

def test_a_batch_of_offline_scans_is_answered_per_scan_and_the_first_scan_wins(api, alice, bob, staff, show):
    _, first = booking_and_code(api, alice, show, seat=1)
    cancelled_id, cancelled = booking_and_code(api, bob, show, seat=2)
    api.post(f"/bookings/{cancelled_id}/cancel/", token=bob)
    earlier, later = clock.iso(clock.now() - 120), clock.iso(clock.now() - 60)
    scans = [{"code": first, "scanned_at": later}, {"code": first, "scanned_at": earlier},
             {"code": cancelled}, {"code": "forged"}]
    response = api.post("/check-in/batch/", {"scans": scans, "show": show}, token=staff)
    assert response.status_code == 200
    results = response.data["results"]
    assert [r["result"] for r in results] == ["refused", "ok", "refused", "refused"]
    assert results[1]["checked_in_at"] == earlier  # the earliest scan is the one recorded
    assert (results[0]["Code"], results[0]["checked_in_at"]) == ("AlreadyCheckedIn", earlier)
    assert [r.get("Code") for r in results[2:]] == ["BookingCancelled", "InvalidTicket"]
    assert (response.data["ok"], response.data["refused"]) == (1, 3)


def test_an_offline_scan_of_a_ticket_let_in_online_is_reported_as_a_conflict(api, alice, staff, show):
    _, code = booking_and_code(api, alice, show)
    online = api.post("/check-in/", {"code": code}, token=staff).data
    result = api.post("/check-in/batch/", {"scans": [{"code": code}]}, token=staff).data["results"][0]
    assert (result["Code"], result["checked_in_at"]) == ("AlreadyCheckedIn", online["checked_in_at"])


def test_a_malformed_batch_is_400_and_writes_nothing(api, alice, staff, show):
    _, code = booking_and_code(api, alice, show)
    for body in ({"scans": []}, {"scans": [{"code": code}] * 51}, {"scans": [{"code": code}, {"code": 5}]},
                 {"scans": [{"code": code, "scanned_at": "yesterday"}]}, {"scans": "x"}):
        assert api.post("/check-in/batch/", body, token=staff).status_code == 400
    assert api.get(f"/shows/{show}/check-ins/", token=staff).data["admitted"] == 0


# --- two doors at once, over HTTP against the live stack --------------------------------------

def test_doors_scanning_one_ticket_at_once_admit_it_exactly_once(live_stack):
    base = live_stack.base_url
    show_id = live_stack.add_show(days_ahead=0.01)  # starts in ~15 minutes: doors open
    # Names of this test's own: the live stack is shared with other modules' users (racer1, racer2, ...).
    _call(base, "POST", "/signup/", {"username": "ticketholder19", "password": "secret"})
    _call(base, "POST", "/signup/", {"username": "door19", "password": "secret"})
    live_stack.dynamodb().update_item(
        TableName=live_stack.env["TABLE_NAME"], Key={"PK": {"S": "USER#door19"}, "SK": {"S": "#PROFILE"}},
        UpdateExpression="SET #r = :staff", ExpressionAttributeNames={"#r": "role"},
        ExpressionAttributeValues={":staff": {"S": "staff"}})
    customer = _call(base, "POST", "/login/", {"username": "ticketholder19", "password": "secret"})[1]["access"]
    door = _call(base, "POST", "/login/", {"username": "door19", "password": "secret"})[1]["access"]
    status, booking = _call(base, "POST", f"/shows/{show_id}/book/", {"seat_number": 7}, customer)
    assert status == 201, booking
    code = _call(base, "GET", f"/bookings/{booking['id']}/ticket/", token=customer)[1]["code"]
    doors = 8
    with concurrent.futures.ThreadPoolExecutor(doors) as pool:
        answers = list(pool.map(lambda _: _call(base, "POST", "/check-in/", {"code": code}, door), range(doors)))
    assert sorted(status for status, _ in answers) == [200] + [409] * (doors - 1)
    first = next(body for status, body in answers if status == 200)
    refused = [body for status, body in answers if status == 409]
    assert {body["Code"] for body in refused} == {"AlreadyCheckedIn"}
    assert {body["checked_in_at"] for body in refused} == {first["checked_in_at"]}


# --- the answers match openapi.yaml (schemathesis sees the staff routes only as 403) -------------

def test_staff_answers_match_their_documented_schemas(api, alice, staff, show):
    import yaml
    from openapi_schema_validator import OAS30Validator, validate
    from referencing import Registry, Resource

    with open("openapi.yaml", encoding="utf-8") as handle:
        document = yaml.safe_load(handle)
    registry = Registry().with_resource("urn:openapi", Resource.opaque(document))

    def check(answer, schema_name):
        validate(answer, {"$ref": f"urn:openapi#/components/schemas/{schema_name}"}, cls=OAS30Validator,
                 registry=registry)

    booking_id, code = booking_and_code(api, alice, show)
    check(api.get(f"/bookings/{booking_id}/ticket/", token=alice).data, "Ticket")
    check(api.get("/tickets/keys/").data, "TicketKeys")
    check(api.post("/check-in/", {"code": code}, token=staff).data, "CheckIn")
    check(api.post("/check-in/batch/", {"scans": [{"code": code}, {"code": "x"}]}, token=staff).data, "CheckInBatch")
    check(api.get(f"/shows/{show}/check-ins/", token=staff).data, "CheckIns")
    check(api.get(f"/shows/{show}/door-list/", token=staff).data, "DoorList")
