"""The door page and the box office's tickets (issue 19), served by the app and driven in Chromium.

Without a browser: /door/ is served with the box office's strict Content-Security-Policy and only
its own files. In headless Chromium (one browser for the module, against the session's live stack):
staff log in, pick a show and scan as a keyboard-wedge scanner does (the code typed into the focused
input, then Enter): a valid ticket shows a green OK with its seat and the count goes up; the same
ticket again, a cancelled one, a ticket of another show and a forged code show their red reasons;
axe-core finds no serious or critical violation. A customer sees the QR tickets after confirming and
in My bookings, and the code shown there is let in at the door. No request leaves the machine and
the console stays free of errors (a CSP violation is one). Screenshots: test-output/door-*.png.
"""
import os
import re
import uuid

import pytest
import requests
from test_box_office import AXE, _axe_violations, _expect, _screenshot, new_page  # noqa: F401 (new_page: a fixture)
from test_browser import browser  # noqa: F401 (browser: the module's Chromium)

from chalicelib import door

PASSWORD = "door-page-secret"


# --- served by the app ------------------------------------------------------------------------

@pytest.fixture
def client():
    from chalice.test import Client

    from app import app

    with Client(app, stage_name="local") as client:
        yield client.http


def test_door_page_has_the_strict_content_security_policy(client):
    response = client.get("/door/")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/html; charset=utf-8"
    policy = response.headers["Content-Security-Policy"]
    assert "default-src 'none'" in policy and "script-src 'self'" in policy and "style-src 'self'" in policy
    assert not re.search(r"https?:|\*|'unsafe-", policy)


def test_door_page_loads_only_its_own_files_and_the_box_offices_api_module(client):
    html = client.get("/door/").body.decode("utf-8")
    assert "style=" not in html and "<style" not in html and not re.search(r"<script(?![^>]*\bsrc=)", html)
    assert sorted(u for u in re.findall(r'(?:src|href)="([^"#][^"]*)"', html) if u != "data:,") == ["door.css", "door.js"]
    for name, content_type in door.ASSETS.items():
        response = client.get(f"/door/{name}")
        assert response.status_code == 200 and response.headers["Content-Type"] == content_type
        text = response.body.decode("utf-8")
        assert "://" not in text
        assert set(re.findall(r'from "([^"]+)"', text)) <= {"../box-office/api.js"}


def test_door_page_without_trailing_slash_redirects_and_unknown_files_are_404(client):
    response = client.get("/door")
    assert response.status_code == 301 and response.headers["Location"] == "door/"
    assert client.get("/door/index.html.bak").status_code == 404


# --- in Chromium --------------------------------------------------------------------------------

def _post(base, path, body=None, token=None):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return requests.post(f"{base}{path}", json=body, headers=headers, timeout=15)


def _account(stack, prefix, role=None):
    username = f"{prefix}-{uuid.uuid4().hex[:8]}"
    assert _post(stack.base_url, "/signup/", {"username": username, "password": PASSWORD}).status_code == 201
    if role:
        stack.dynamodb().update_item(
            TableName=stack.env["TABLE_NAME"], Key={"PK": {"S": f"USER#{username}"}, "SK": {"S": "#PROFILE"}},
            UpdateExpression="SET #r = :role", ExpressionAttributeNames={"#r": "role"},
            ExpressionAttributeValues={":role": {"S": role}})
    return username


def _token(stack, username):
    return _post(stack.base_url, "/login/", {"username": username, "password": PASSWORD}).json()["access"]


def _ticket(stack, token, show_id, seat):
    booked = _post(stack.base_url, f"/shows/{show_id}/book/", {"seat_number": seat}, token)
    assert booked.status_code == 201, booked.text
    booking_id = booked.json()["id"]
    ticket = requests.get(f"{stack.base_url}/bookings/{booking_id}/ticket/",
                          headers={"Authorization": f"Bearer {token}"}, timeout=15).json()
    return booking_id, ticket["code"]


def _scan(page, code):
    """What a keyboard-wedge scanner does: type the code into whatever has the focus, then Enter."""
    page.keyboard.type(code)
    page.keyboard.press("Enter")


def test_staff_scan_tickets_at_the_door_and_see_ok_or_the_reason(live_stack, new_page):
    expect = _expect()
    if not os.path.exists(AXE):
        pytest.fail(f"{AXE} is missing: run `make assets`")
    base = live_stack.base_url
    show_id = live_stack.add_show(days_ahead=0.01, screen_name="Door screen")  # starts in ~15 min: doors open
    other_show = live_stack.add_show(days_ahead=0.01, screen_name="Other screen")
    customer = _token(live_stack, _account(live_stack, "guest"))
    _, valid = _ticket(live_stack, customer, show_id, seat=12)
    cancelled_id, cancelled = _ticket(live_stack, customer, show_id, seat=13)
    assert _post(base, f"/bookings/{cancelled_id}/cancel/", token=customer).status_code == 200
    _, elsewhere = _ticket(live_stack, customer, other_show, seat=1)
    staff = _account(live_stack, "door", role="staff")

    page, recorder = new_page(width=412, height=915)  # a phone
    page.goto(f"{base}/door/")
    expect(page.get_by_role("heading", name="Staff log in")).to_be_visible()
    found = {"login": _axe_violations(page)}
    page.get_by_label("Username").fill(staff)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_text(f"Logged in as {staff}")).to_be_visible()
    page.get_by_label("Show").select_option(str(show_id))
    code_input = page.get_by_label("Ticket code")
    expect(code_input).to_be_focused()
    expect(page.locator("#count")).to_have_text("0 of 1 admitted")
    found["door"] = _axe_violations(page)

    _scan(page, valid)
    expect(page.locator("#result-head")).to_have_text("OK")
    expect(page.locator("#result-detail")).to_have_text("Seat B2")
    expect(page.locator("#result")).to_have_class(re.compile(r"\bok\b"))
    expect(page.locator("#count")).to_have_text("1 of 1 admitted")
    expect(code_input).to_have_value("")
    expect(code_input).to_be_focused()
    found["ok"] = _axe_violations(page)
    _screenshot(page, "door-ok.png")

    _scan(page, valid)
    expect(page.locator("#result-head")).to_have_text("Already in")
    expect(page.locator("#result-detail")).to_contain_text("Checked in at")
    expect(page.locator("#result")).to_have_class(re.compile(r"\brefused\b"))
    found["refused"] = _axe_violations(page)
    _screenshot(page, "door-refused.png")
    _scan(page, cancelled)
    expect(page.locator("#result-head")).to_have_text("Cancelled")
    _scan(page, elsewhere)
    expect(page.locator("#result-head")).to_have_text("Wrong show")
    page.get_by_role("heading", name="Scan tickets").click()  # a tap elsewhere: the input takes the focus back
    expect(code_input).to_be_focused()
    _scan(page, "NOT-A-TICKET")
    expect(page.locator("#result-head")).to_have_text("Not valid")
    expect(page.locator("#count")).to_have_text("1 of 1 admitted")
    assert not any(found.values()), found

    checked = requests.get(f"{base}/shows/{show_id}/check-ins/",
                           headers={"Authorization": f"Bearer {_token(live_stack, staff)}"}, timeout=15).json()
    assert (checked["admitted"], [c["checked_in_by"] for c in checked["check_ins"]]) == (1, [staff])


def test_a_customer_account_is_told_it_may_not_check_in(live_stack, new_page):
    expect = _expect()
    show_id = live_stack.add_show(days_ahead=0.01)
    customer = _account(live_stack, "nostaff")
    page, _ = new_page()
    page.goto(f"{live_stack.base_url}/door/")
    page.get_by_label("Username").fill(customer)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.get_by_label("Show").select_option(str(show_id))
    expect(page.locator("#show-error")).to_have_text("This account may not check tickets in.")
    expect(page.get_by_label("Ticket code")).to_be_disabled()


def test_the_box_office_shows_qr_tickets_after_confirming_and_in_my_bookings(live_stack, new_page):
    expect = _expect()
    base = live_stack.base_url
    show_id = live_stack.add_show(days_ahead=0.01)
    username = _account(live_stack, "ticketholder")
    page, _ = new_page()
    page.goto(f"{base}/box-office/#/movies/1/shows/{show_id}")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("button", name="Row A seat 4, standard, 9.50 €, available").click()
    page.get_by_role("button", name="Hold selected seats").click()
    page.get_by_role("button", name="Confirm and book").click()
    expect(page.get_by_role("heading", name="Booked")).to_be_visible()
    tickets = page.get_by_role("list", name="Your tickets").get_by_role("listitem")
    expect(tickets).to_have_count(1)
    expect(tickets.get_by_role("img", name="QR code of the ticket for Row A seat 4")).to_be_visible()
    assert page.locator(".ticket .qr").evaluate("img => img.naturalWidth") > 100  # the SVG rendered
    code = tickets.locator("code").inner_text()
    _screenshot(page, "box-office-ticket.png")

    page.get_by_role("link", name="My bookings").first.click()
    page.get_by_role("button", name=re.compile(r"^Ticket for Row A seat 4, ")).click()
    panel = page.get_by_role("list", name="Ticket").get_by_role("listitem")
    expect(panel.get_by_role("img", name="QR code of the ticket for Row A seat 4")).to_be_visible()
    expect(page.locator("#ticket-heading")).to_be_focused()
    assert not _axe_violations(page)

    staff = _token(live_stack, _account(live_stack, "door", role="staff"))
    admitted = _post(base, "/check-in/", {"code": code, "show": show_id}, staff)
    assert admitted.status_code == 200 and admitted.json()["seat_label"] == "A4"
