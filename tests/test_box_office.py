"""The box office (issue 14): the page customers use, served by the app and driven in Chromium.

First, without a browser: the page and its files are served with a strict Content-Security-Policy
and only relative URLs. Then headless Debian Chromium (Playwright, started once for this module)
against a stack of this module's own — `chalice local` and the serialised local DynamoDB, with
holds of HOLD_SECONDS and access tokens of ACCESS_TTL seconds, short enough to see the countdown and
the refresh, long enough to click through. Customers sign up, log in, pick a show, hold seats by
clicking, extend, confirm, find them in My bookings and cancel; best available finds 4 seats side by
side; a second customer (another browser context) takes a seat while the first is looking; errors
(a seat taken meanwhile, the show's single-seat rule, 401, 429) are shown where they belong;
the page works behind an API Gateway stage prefix; axe-core finds no serious or critical violation.
Every test records every request: none may leave the machine, and the console must stay free of
errors (a CSP violation is one).

Screenshots go to test-output/box-office-*.png. Without Chromium the browser tests skip with an
install hint, except under CI (CI=true), where they fail (test_browser.py's convention).
"""
import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.parse
import uuid

import pytest
import requests
from test_browser import OUTPUT, ROOT, Recorder, browser, gateway  # noqa: F401 (browser, gateway: fixtures)

from chalicelib import box_office

PAGE_DIR = box_office.PAGE_DIR
AXE = os.path.join(ROOT, "tests", "vendor", "axe-core", "axe.min.js")
HOLD_SECONDS = 60
ACCESS_TTL = 5  # the page refreshes its tokens at 70 % of their lifetime: every 3.5 s here
POLL_SECONDS = 3  # app.js POLL_MS
TIMEOUT_MS = 15_000
PASSWORD = "box-office-secret"
API_ERROR_LOG = re.compile(r"Failed to load resource: the server responded with a status of 4\d\d ")


# --- served by the app ------------------------------------------------------------------------

@pytest.fixture
def client():
    from chalice.test import Client

    from app import app
    from chalicelib import settings

    settings.reset()
    with Client(app, stage_name="local") as client:
        yield client.http
    settings.reset()


def _directives(policy):
    return dict(part.strip().split(" ", 1) for part in policy.split(";"))


def test_page_has_a_strict_content_security_policy(client):
    response = client.get("/box-office/")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/html; charset=utf-8"
    policy = _directives(response.headers["Content-Security-Policy"])
    assert policy["default-src"] == "'none'"
    assert policy["script-src"] == "'self'"
    assert policy["style-src"] == "'self'"  # no 'unsafe-inline', for styles either
    assert policy["connect-src"] == "'self'"
    assert policy["frame-ancestors"] == "'none'"
    assert not re.search(r"https?:|\*|'unsafe-", response.headers["Content-Security-Policy"])


def test_page_loads_only_its_own_files_by_relative_urls(client):
    html = client.get("/box-office/").body.decode("utf-8")
    assert "style=" not in html and "<style" not in html and not re.search(r"<script(?![^>]*\bsrc=)", html)
    urls = re.findall(r'(?:src|href)="([^"#][^"]*)"', html)
    assets = [url for url in urls if url != "data:,"]
    assert sorted(assets) == ["app.js", "style.css"], urls
    for name in box_office.ASSETS:
        response = client.get(f"/box-office/{name}")
        assert response.status_code == 200, name
        assert response.headers["Content-Type"] == box_office.ASSETS[name]
        text = response.body.decode("utf-8")
        assert "://" not in text, f"{name} names an absolute URL"
        for imported in re.findall(r'from "([^"]+)"', text):
            assert re.fullmatch(r"\./[\w-]+\.js", imported) and imported[2:] in box_office.ASSETS, imported


def test_page_without_trailing_slash_redirects_to_it(client):
    response = client.get("/box-office")
    assert response.status_code == 301
    assert response.headers["Location"] == "box-office/"


def test_unknown_file_is_a_json_404(client):
    response = client.get("/box-office/index.html.bak")
    assert response.status_code == 404
    assert "Code" in response.body.decode("utf-8")


def test_the_pages_javascript_stays_small():
    lines = sum(len(open(os.path.join(PAGE_DIR, name), encoding="utf-8").readlines())
                for name in box_office.ASSETS if name.endswith(".js"))
    assert lines < 700, f"{lines} lines of JavaScript"  # 600 before the tickets (issue 19) and the waitlist (20)


# --- a stack of this module's own ------------------------------------------------------------

def _box_office_stack_class():
    from conftest import LiveStack

    class BoxOfficeStack(LiveStack):
        def add_show(self, movie_id=1, total_seats=100, days_ahead=30, screen_name="Test screen", **seating):
            """A new show with the demo's seating plan (rows A-J; A: accessible and companion seats at
            both ends; I and J premium; EUR), unless ``seating`` says otherwise."""
            import datetime as dt

            from chalicelib import catalog, storage as _storage
            from chalicelib.db import shows
            from demo_data import CATEGORIES, CURRENCY, demo_layout

            seating = {"layout": demo_layout(total_seats), "categories": CATEGORIES, "currency": CURRENCY, **seating}
            self._next_show_id += 1
            starts = dt.datetime.now(dt.timezone.utc).replace(microsecond=0) + dt.timedelta(days=days_ahead)
            record = catalog.show_record(self._next_show_id, movie_id, screen_name, starts, total_seats, **seating)
            self.dynamodb().put_item(TableName=self.env["TABLE_NAME"], Item=_storage.to_item(shows.show_item(record)),
                                     ConditionExpression="attribute_not_exists(PK)")
            return self._next_show_id

    return BoxOfficeStack


@pytest.fixture(scope="module")
def stack():
    """scripts/local_dynamodb.py and `chalice local` on free ports, with holds long enough to click
    through and short-lived access tokens; started once for this module and stopped after it."""
    import local_stack

    os.makedirs(OUTPUT, exist_ok=True)
    logs = tempfile.mkdtemp(prefix="box-office-stack-", dir=OUTPUT)
    ddb_port, api_port = local_stack.free_port(), local_stack.free_port()
    env = {**os.environ, "STAGE": "local", "TABLE_NAME": "movie-booking-box-office", "BCRYPT_ROUNDS": "4",
           "HOLD_SECONDS": str(HOLD_SECONDS), "ACCESS_TOKEN_TTL_SECONDS": str(ACCESS_TTL),
           "AWS_DEFAULT_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local",
           "AWS_SESSION_TOKEN": "local", "AWS_ENDPOINT_URL_DYNAMODB": f"http://127.0.0.1:{ddb_port}",
           "AWS_ENDPOINT_URL_SQS": f"http://127.0.0.1:{ddb_port}", "EVENTS_POLL_SECONDS": "0.2", "SWEEP_SECONDS": "1",
           "PYTHONUNBUFFERED": "1"}
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "JWT_SECRET_PARAM", "CORS_ALLOW_ORIGIN"):
        env.pop(name, None)
    processes = []
    try:
        processes.append(local_stack.start(local_stack.dynamodb_command(ddb_port), env=env,
                                           log_path=os.path.join(logs, "dynamodb.log")))
        local_stack.wait_for_port(ddb_port, processes[-1], timeout=30)
        seed = ("import sys; sys.path[:0] = ['.', 'scripts']; from chalicelib import importer, storage; "
                "from demo_data import demo_catalog; storage.create_table(); importer.import_catalog(demo_catalog())")
        subprocess.run([sys.executable, "-c", seed], cwd=ROOT, env=env, check=True, timeout=60)
        import local_events  # the waitlist's offers come from the table's stream (issue 20)

        env.update(local_events.create_queues(env["AWS_ENDPOINT_URL_DYNAMODB"]))
        processes.append(local_stack.start(local_stack.events_command(), env=env, log_path=os.path.join(logs, "events.log")))
        processes.append(local_stack.start(local_stack.chalice_local_command(api_port), env=env,
                                           log_path=os.path.join(logs, "chalice.log")))
        local_stack.wait_for_port(api_port, processes[-1], timeout=60)
        yield _box_office_stack_class()(f"http://127.0.0.1:{api_port}", env["AWS_ENDPOINT_URL_DYNAMODB"], env)
    finally:
        local_stack.stop(processes, timeout=10)


@pytest.fixture
def new_page(browser):
    """``new_page()`` -> (page, recorder) in a fresh browser context (its own sessionStorage); every
    context is checked for stray requests and console errors at the end of the test."""
    contexts = []

    def make(width=1280, height=1000):
        context = browser.new_context(viewport={"width": width, "height": height}, service_workers="block")
        context.set_default_timeout(TIMEOUT_MS)
        recorder = Recorder(context)
        contexts.append((context, recorder))
        return recorder.watch(context.new_page()), recorder

    yield make
    try:
        for _, recorder in contexts:
            # The API's 4xx answers are the page's business (the tests check what it shows for them);
            # Chromium logs each as a console error. Anything else logged as an error fails the test.
            recorder.errors = [e for e in recorder.errors if not API_ERROR_LOG.match(e)]
            recorder.assert_clean()
    finally:
        for context, _ in contexts:
            context.close()


def _expect():
    from playwright.sync_api import expect

    expect.set_options(timeout=TIMEOUT_MS)
    return expect


def _screenshot(page, name):
    os.makedirs(OUTPUT, exist_ok=True)
    page.screenshot(path=os.path.join(OUTPUT, name), full_page=True)


def _username(prefix):
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def _signed_up(stack, prefix):
    username = _username(prefix)
    response = requests.post(f"{stack.base_url}/signup/", json={"username": username, "password": PASSWORD}, timeout=10)
    assert response.status_code == 201, response.text
    return username


def _token(stack, username):
    response = requests.post(f"{stack.base_url}/login/", json={"username": username, "password": PASSWORD}, timeout=10)
    assert response.status_code == 200, response.text
    return response.json()["access"]


def _log_in(page, base, username, path=""):
    page.goto(f"{base}/box-office/{path}")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    _expect()(page.get_by_text(f"Logged in as {username}")).to_be_visible()


def _seat(page, label):
    """The seat button labelled e.g. "F7" on the map (its accessible name starts "Row F seat 7,")."""
    row, place = re.fullmatch(r"([A-Z]+)(\d+)", label).groups()
    return page.locator(f"#seat-map button[aria-label^='Row {row} seat {place},']")


def _open_show(page, movie_id, show_id):
    page.locator(f"a[href='#/movies/{movie_id}/shows/{show_id}']").click()
    page.locator("#seat-map button.seat").first.wait_for()


def _seconds(countdown):
    minutes, seconds = countdown.split(":")
    return int(minutes) * 60 + int(seconds)


def _seat_map(stack, show_id):
    return requests.get(f"{stack.base_url}/shows/{show_id}/seats/", timeout=10).json()


# --- the flow -----------------------------------------------------------------------------------

def test_customer_signs_up_holds_two_seats_extends_confirms_and_cancels_one(stack, new_page):
    expect = _expect()
    show_id = stack.add_show(movie_id=1, days_ahead=3)
    page, recorder = new_page()
    username = _username("carol")

    page.goto(f"{stack.base_url}/box-office/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign up").click()
    expect(page.get_by_text(f"Logged in as {username}")).to_be_visible()
    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("heading", name="Log in or sign up")).to_be_visible()
    _log_in(page, stack.base_url, username)

    page.get_by_role("link", name="Inception").click()
    expect(page.get_by_role("heading", name="Inception: shows")).to_be_visible()
    _open_show(page, 1, show_id)
    expect(page.locator("#seat-map button.seat")).to_have_count(100)
    expect(page.locator("#seat-map .row")).to_have_count(10)
    expect(page.locator("#prices li")).to_have_text(
        ["standard: 9.50 €", "premium: 14.50 €", "accessible: 9.50 €", "companion: 9.50 €"])
    page.get_by_role("button", name="Row J seat 5, premium, 14.50 €, available").click()
    page.get_by_role("button", name="Row J seat 6, premium, 14.50 €, available").click()
    expect(page.locator("#selection")).to_have_text("Selected: Row J seat 5, Row J seat 6 (total 29.00 €).")
    page.get_by_role("button", name="Hold selected seats").click()

    panel = page.locator("#hold-panel")
    expect(panel).to_be_visible()
    expect(panel.get_by_role("listitem")).to_have_text(["Row J seat 5, premium, 14.50 €", "Row J seat 6, premium, 14.50 €"])
    expect(page.locator("#hold-total")).to_have_text("Total: 29.00 €")
    expect(_seat(page, "J5")).to_have_accessible_name("Row J seat 5, premium, 14.50 €, in your hold")
    countdown = page.locator("#countdown")
    expect(countdown).to_have_text(re.compile(r"^[01]:\d\d$"))
    first = _seconds(countdown.inner_text())
    assert HOLD_SECONDS - 3 <= first <= HOLD_SECONDS
    expect(countdown).not_to_have_text(countdown.inner_text(), timeout=3000)  # it counts down
    before_extend = _seconds(countdown.inner_text())
    assert before_extend < first
    _screenshot(page, "box-office-hold.png")
    time.sleep(1.2)
    page.get_by_role("button", name="Extend hold (2 extensions left)").click()
    expect(page.get_by_role("button", name="Extend hold (1 extension left)")).to_be_visible()
    assert _seconds(countdown.inner_text()) > before_extend - 1.2  # expiry moved to now + HOLD_SECONDS

    page.get_by_role("button", name="Confirm and book").click()
    expect(page.get_by_role("heading", name="Booked")).to_be_visible()
    expect(page.locator("#booked-list li")).to_have_text(["Row J seat 5, premium, 14.50 €", "Row J seat 6, premium, 14.50 €"])
    expect(page.locator("#booked-total")).to_have_text("2 seats booked, total 29.00 €.")
    _screenshot(page, "box-office-confirmation.png")

    page.get_by_role("link", name="My bookings").first.click()
    rows = page.locator("#booking-rows tr")
    expect(rows).to_have_count(2)
    expect(rows.filter(has_text="Row J seat 5")).to_contain_text("14.50 €")
    expect(rows.filter(has_text="Row J seat 5")).to_contain_text("booked")
    page.get_by_role("button", name=re.compile(r"^Cancel Row J seat 5, Inception, ")).click()
    expect(rows.filter(has_text="Row J seat 5")).to_contain_text("cancelled")
    expect(rows.filter(has_text="Row J seat 6")).to_contain_text("booked")
    _screenshot(page, "box-office-my-bookings.png")

    seats = _seat_map(stack, show_id)
    assert 95 in seats["available"] and 96 in seats["taken"]
    paths = [urllib.parse.urlsplit(url).path for _, url in recorder.requests]
    assert f"/shows/{show_id}/holds/" in paths and any(p.endswith("/extend/") for p in paths)


def test_best_available_holds_four_adjacent_seats_and_says_when_there_are_none(stack, new_page):
    expect = _expect()
    show_id = stack.add_show(movie_id=1, days_ahead=9)
    page, _ = new_page()
    _log_in(page, stack.base_url, _signed_up(stack, "nina"), f"#/movies/1/shows/{show_id}")
    page.locator("#seat-map button.seat").first.wait_for()
    page.get_by_label("Number of seats").fill("4")
    page.get_by_role("button", name="Hold best available seats").click()

    held = page.locator("#hold-panel li")
    expect(held).to_have_count(4)
    names = held.all_inner_texts()
    places = [re.fullmatch(r"Row ([A-J]) seat (\d+), standard, 9\.50 €", name).groups() for name in names]
    assert len({row for row, _ in places}) == 1, names  # one row ...
    numbers = [int(place) for _, place in places]
    assert numbers == list(range(numbers[0], numbers[0] + 4)), names  # ... side by side
    expect(page.locator("#hold-total")).to_have_text("Total: 38.00 €")
    row = places[0][0]
    for place in numbers:
        expect(_seat(page, f"{row}{place}")).to_have_accessible_name(re.compile(r", in your hold$"))
    assert len(_seat_map(stack, show_id)["held"]) == 4

    page.get_by_role("button", name="Release seats").click()
    expect(page.locator("#hold-error")).to_have_text("Your seats were released.")
    assert _seat_map(stack, show_id)["held"] == []
    # The two wheelchair spaces are at the ends of row A: not side by side, unless the customer agrees.
    page.get_by_label("Number of seats").fill("2")
    page.get_by_label("Category").select_option("accessible")
    page.get_by_role("button", name="Hold best available seats").click()
    expect(page.locator("#best-error")).to_have_text(
        'There are no 2 adjacent accessible seats in one row that leave no single seat; send "allow_split": true '
        "to accept seats in more than one row.")
    assert _seat_map(stack, show_id)["held"] == []
    page.get_by_label("Seats may be apart if need be").check()
    page.get_by_role("button", name="Hold best available seats").click()
    expect(held).to_have_text(["Row A seat 1, accessible, 9.50 €", "Row A seat 10, accessible, 9.50 €"])


def test_an_aisle_is_drawn_as_a_wider_gap_between_two_seats(stack, new_page):
    rows = [{"label": label, "seats": 10, "category": "standard", "aisles": [3, 7]} for label in "AB"]
    show_id = stack.add_show(movie_id=1, days_ahead=9, total_seats=20, layout=rows)
    page, _ = new_page()
    _log_in(page, stack.base_url, _signed_up(stack, "aisle"), f"#/movies/1/shows/{show_id}")
    page.locator("#seat-map button.seat").first.wait_for()
    left = [_seat(page, f"B{place}").bounding_box() for place in range(1, 11)]
    steps = [after["x"] - before["x"] for before, after in zip(left, left[1:])]
    beside, across = min(steps), [steps[2], steps[6]]  # B3 -> B4 and B7 -> B8 cross the aisles
    assert all(step > beside + 10 for step in across), steps
    assert sorted(steps)[:7] == [beside] * 7, steps
    _screenshot(page, "box-office-aisles.png")


def test_a_full_show_offers_the_waitlist_and_seats_that_come_back_are_held_for_the_customer(stack, new_page):
    expect = _expect()
    rows = [{"label": "A", "seats": 4, "category": "standard"}]
    show_id = stack.add_show(movie_id=1, days_ahead=9, total_seats=4, layout=rows)
    filler = _token(stack, _signed_up(stack, "filler"))
    full = requests.post(f"{stack.base_url}/shows/{show_id}/book/", json={"seat_numbers": [1, 2, 3, 4]},
                         headers={"Authorization": f"Bearer {filler}"}, timeout=10).json()
    page, _ = new_page()
    _log_in(page, stack.base_url, _signed_up(stack, "wait"), f"#/movies/1/shows/{show_id}")
    page.locator("#seat-map button.seat").first.wait_for()
    page.get_by_label("Number of seats").fill("2")
    page.get_by_role("button", name="Hold best available seats").click()
    expect(page.locator("#best-error")).to_contain_text("There are no 2 adjacent seats")
    page.get_by_role("button", name="Join the waitlist for 2 seats").click()
    expect(page.locator("#waitlist-note")).to_have_text(
        "You are number 1 on the waitlist: when seats come back, they are held for you here.")

    for booking in full["bookings"][:2]:  # A1 and A2 come back
        requests.post(f"{stack.base_url}/bookings/{booking['id']}/cancel/",
                      headers={"Authorization": f"Bearer {filler}"}, timeout=10).raise_for_status()
    page.get_by_role("link", name="My bookings").click()
    item = page.locator("#waitlist-rows li")
    for _ in range(40):  # the offer is made from the stream within a few seconds; My bookings is read once
        item.first.wait_for()
        if "seats held for you" in item.inner_text():
            break
        page.wait_for_timeout(250)
        page.reload()
    expect(item).to_contain_text("2 seats, seats held for you until")
    _screenshot(page, "box-office-waitlist.png")
    item.get_by_role("link", name="confirm them").click()
    expect(page.locator("#hold-from-waitlist")).to_be_visible()
    expect(page.locator("#hold-seats li")).to_have_count(2)
    page.get_by_role("button", name="Confirm and book").click()
    expect(page.locator("#booked-list li")).to_have_count(2)


def test_seat_taken_by_another_customer_turns_taken_without_a_reload(stack, new_page):
    expect = _expect()
    show_id = stack.add_show(movie_id=2, days_ahead=4)
    first, second = _signed_up(stack, "dora"), _signed_up(stack, "emil")
    page, _ = new_page()
    _log_in(page, stack.base_url, first, f"#/movies/2/shows/{show_id}")
    page.locator("#seat-map button.seat").first.wait_for()
    expect(_seat(page, "C7")).to_have_accessible_name("Row C seat 7, standard, 9.50 €, available")

    other, _ = new_page()  # another customer, in another browser context, takes seat 7
    _log_in(other, stack.base_url, second, f"#/movies/2/shows/{show_id}")
    _seat(other, "C7").click()
    other.get_by_role("button", name="Hold selected seats").click()
    expect(other.locator("#hold-panel")).to_be_visible()
    held_at = time.monotonic()

    expect(_seat(page, "C7")).to_have_accessible_name(
        "Row C seat 7, standard, 9.50 €, held by another customer", timeout=(POLL_SECONDS + 2) * 1000)
    assert time.monotonic() - held_at < POLL_SECONDS + 2
    expect(_seat(page, "C7")).to_have_attribute("aria-disabled", "true")
    _seat(page, "C7").click(force=True)  # (Playwright would wait for an aria-disabled button to be enabled)
    expect(page.locator("#pick-note")).to_have_text(
        "Row C seat 7 is held by another customer: choose an available seat.")
    expect(page.locator("#selection")).to_contain_text("No seats selected")

    other.get_by_role("button", name="Confirm and book").click()
    expect(other.get_by_role("heading", name="Booked")).to_be_visible()
    expect(_seat(page, "C7")).to_have_accessible_name("Row C seat 7, standard, 9.50 €, taken",
                                                     timeout=(POLL_SECONDS + 2) * 1000)
    _screenshot(page, "box-office-seat-map.png")


def test_hold_of_a_seat_taken_in_the_meantime_says_which_and_redraws_it(stack, new_page):
    expect = _expect()
    show_id = stack.add_show(movie_id=3, days_ahead=5)
    username = _signed_up(stack, "fay")
    page, _ = new_page()
    _log_in(page, stack.base_url, username, f"#/movies/3/shows/{show_id}")
    page.locator("#seat-map button.seat").first.wait_for()
    _seat(page, "B1").click()
    _seat(page, "B2").click()
    expect(page.locator("#selection")).to_have_text("Selected: Row B seat 1, Row B seat 2 (total 19.00 €).")

    # The seat map's polls wait while someone else holds B2 (seat 12), so that the page still shows it free.
    paused, pausing = [], [True]
    page.route(f"**/shows/{show_id}/seats/", lambda route: paused.append(route) if pausing else route.continue_())
    other = _token(stack, _signed_up(stack, "gus"))
    response = requests.post(f"{stack.base_url}/shows/{show_id}/holds/", json={"seat_numbers": [12]},
                             headers={"Authorization": f"Bearer {other}"}, timeout=10)
    assert response.status_code == 201, response.text
    expect(_seat(page, "B2")).to_have_attribute("aria-pressed", "true")
    page.get_by_role("button", name="Hold selected seats").click()

    error = page.locator("#hold-error")
    expect(error).to_have_text("Seat B2 (12) is held by another customer. Row B seat 2 is no longer available: "
                               "choose another seat.")
    expect(_seat(page, "B2")).to_have_attribute("aria-disabled", "true")
    expect(_seat(page, "B2")).to_have_attribute("aria-pressed", "false")
    expect(page.locator("#selection")).to_have_text("Selected: Row B seat 1 (total 9.50 €).")
    pausing.clear()
    for route in paused:
        route.continue_()
    expect(_seat(page, "B2")).to_have_accessible_name("Row B seat 2, standard, 9.50 €, held by another customer")
    assert page.locator("#hold-panel").is_hidden()
    _screenshot(page, "box-office-seat-taken-meanwhile.png")


def test_a_hold_the_show_refuses_says_why_by_the_hold_button(stack, new_page):
    expect = _expect()
    show_id = stack.add_show(movie_id=4, days_ahead=10, no_single_seat_gaps=True)
    page, _ = new_page()
    _log_in(page, stack.base_url, _signed_up(stack, "olga"), f"#/movies/4/shows/{show_id}")
    _seat(page, "D2").click()
    page.get_by_role("button", name="Hold selected seats").click()
    expect(page.locator("#hold-error")).to_have_text(
        "Seat D1 would be left empty on its own; choose seats next to it, or leave at least two seats free.")
    expect(page.locator("#hold-panel")).to_be_hidden()
    _seat(page, "D1").click()
    page.get_by_role("button", name="Hold selected seats").click()
    expect(page.locator("#hold-panel li")).to_have_text(["Row D seat 1, standard, 9.50 €", "Row D seat 2, standard, 9.50 €"])


# --- sessions ---------------------------------------------------------------------------------

def test_tokens_are_refreshed_before_they_expire(stack, new_page):
    expect = _expect()
    username = _signed_up(stack, "hana")
    page, recorder = new_page()
    sent = []
    page.on("request", lambda r: sent.append((urllib.parse.urlsplit(r.url).path, r.headers.get("authorization"))))
    _log_in(page, stack.base_url, username)
    first = page.evaluate("JSON.parse(sessionStorage.getItem('box-office-session')).access")
    logged_in = time.monotonic()
    with page.expect_response(lambda r: r.url.endswith("/token/refresh/"), timeout=ACCESS_TTL * 1000) as refreshed:
        pass
    assert refreshed.value.status == 200
    assert time.monotonic() - logged_in < ACCESS_TTL - 1  # before the access token expired
    time.sleep(max(0.0, ACCESS_TTL + 1 - (time.monotonic() - logged_in)))  # the first token has expired now
    page.get_by_role("link", name="My bookings").click()
    expect(page.get_by_text("No bookings yet")).to_be_visible()
    used = [auth for path, auth in sent if path == "/my-bookings/"]
    assert used and first not in used[-1] and used[-1].startswith("Bearer ")
    assert not [url for method, url in recorder.requests if url.endswith("/login/") and method == "POST"][1:]


def test_a_session_that_ended_sends_the_user_back_to_log_in(stack, new_page):
    expect = _expect()
    username = _signed_up(stack, "ivan")
    page, _ = new_page()
    _log_in(page, stack.base_url, username, "#/my-bookings")
    expect(page.get_by_text("No bookings yet")).to_be_visible()
    # Elsewhere, this session is ended (its refresh token revoked), and the access token the page
    # holds no longer passes (here: spoilt, as an expired one would be refused).
    refresh = page.evaluate("JSON.parse(sessionStorage.getItem('box-office-session')).refresh")
    assert requests.post(f"{stack.base_url}/logout/", json={"refresh": refresh}, timeout=10).status_code == 204
    page.evaluate("""() => { const s = JSON.parse(sessionStorage.getItem('box-office-session'));
        s.access = s.access.slice(0, -2) + 'xx'; sessionStorage.setItem('box-office-session', JSON.stringify(s)); }""")
    page.reload()
    expect(page.get_by_role("heading", name="Log in or sign up")).to_be_visible()
    expect(page.locator("#login-reason")).to_have_text("This session has been revoked. Please log in again.")
    assert page.evaluate("sessionStorage.getItem('box-office-session')") is None
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="My bookings")).to_be_visible()  # back where the user was
    expect(page.get_by_text("No bookings yet")).to_be_visible()


def test_login_errors_are_shown_by_the_form_and_a_lockout_says_how_long_to_wait(stack, new_page):
    expect = _expect()
    username = _signed_up(stack, "jo")
    page, _ = new_page()
    page.goto(f"{stack.base_url}/box-office/")
    page.get_by_label("Username").fill("x")
    page.get_by_label("Password").fill("short")
    page.get_by_role("button", name="Sign up").click()
    expect(page.locator("#username-error")).to_have_text("Username must be 3 to 150 characters.")
    expect(page.get_by_label("Username")).to_have_attribute("aria-invalid", "true")

    expect(page.locator("#password-error")).to_be_empty()
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign up").click()
    expect(page.locator("#username-error")).to_have_text("That username is already taken.")

    for _ in range(10):
        requests.post(f"{stack.base_url}/login/", json={"username": username, "password": "wrong-password"}, timeout=10)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.locator("#auth-error")).to_have_text(re.compile(
        r"^Too many failed logins; try again later\. Try again in 1[45] minutes\.$"))
    expect(page.get_by_role("heading", name="Log in or sign up")).to_be_visible()


# --- keyboard and accessibility ---------------------------------------------------------------

def test_every_seat_is_a_named_button_and_the_map_works_from_the_keyboard(stack, new_page):
    expect = _expect()
    show_id = stack.add_show(movie_id=4, days_ahead=6)
    page, _ = new_page()
    _log_in(page, stack.base_url, _signed_up(stack, "kim"), f"#/movies/4/shows/{show_id}")
    seats = page.locator("#seat-map button.seat")
    expect(seats).to_have_count(100)
    names = seats.evaluate_all("buttons => buttons.map(b => [b.getAttribute('aria-label'), b.tabIndex])")
    pattern = r"Row [A-J] seat \d+, (standard|premium|accessible|companion), \d+\.\d\d €, available"
    assert all(re.fullmatch(pattern, name) and tab == 0 for name, tab in names), names[:3]
    assert [name for name, _ in names[:2]] == ["Row A seat 1, accessible, 9.50 €, available",
                                              "Row A seat 2, companion, 9.50 €, available"]
    assert names[-1][0] == "Row J seat 10, premium, 14.50 €, available"
    expect(_seat(page, "A1")).to_have_class(re.compile(r"\bwheelchair\b"))  # marked on the map
    expect(page.locator("#legend-wheelchair")).to_be_visible()

    _seat(page, "A1").focus()
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowDown")
    expect(_seat(page, "B2")).to_be_focused()
    page.keyboard.press("Space")
    page.keyboard.press("ArrowRight")
    page.keyboard.press("Enter")
    expect(page.locator("#selection")).to_have_text("Selected: Row B seat 2, Row B seat 3 (total 19.00 €).")
    page.keyboard.press("Enter")
    expect(page.locator("#selection")).to_have_text("Selected: Row B seat 2 (total 9.50 €).")
    expect(_seat(page, "B3")).to_be_focused()  # focus survives the seat map's redraws:
    with page.expect_response(lambda r: r.url.endswith(f"/shows/{show_id}/seats/"), timeout=(POLL_SECONDS + 2) * 1000):
        pass  # the next poll
    page.wait_for_timeout(100)
    expect(_seat(page, "B3")).to_be_focused()
    expect(page.locator("#selection")).to_have_text("Selected: Row B seat 2 (total 9.50 €).")


def _axe_violations(page):
    with open(AXE, encoding="utf-8") as handle:
        page.evaluate(handle.read())  # evaluated through DevTools, not injected as an inline script
    results = page.evaluate("axe.run(document, {resultTypes: ['violations']})")
    return [(v["id"], v["impact"], [n["target"] for n in v["nodes"]][:3]) for v in results["violations"]
            if v["impact"] in ("serious", "critical")]


def test_every_view_passes_axe_core_without_serious_or_critical_violations(stack, new_page):
    expect = _expect()
    if not os.path.exists(AXE):
        pytest.fail(f"{AXE} is missing: run `make assets` (scripts/build_assets.py vendors axe-core for the tests)")
    show_id = stack.add_show(movie_id=1, days_ahead=7)
    page, _ = new_page()
    page.goto(f"{stack.base_url}/box-office/")
    page.get_by_label("Username").wait_for()
    found = {"login": _axe_violations(page)}
    _log_in(page, stack.base_url, _signed_up(stack, "lea"))
    found["movies"] = _axe_violations(page)
    page.get_by_role("link", name="Inception").click()
    expect(page.locator(f"a[href='#/movies/1/shows/{show_id}']")).to_be_visible()
    found["shows"] = _axe_violations(page)
    _open_show(page, 1, show_id)
    _seat(page, "C1").click()
    found["seat map"] = _axe_violations(page)
    page.get_by_role("button", name="Hold selected seats").click()
    expect(page.locator("#hold-panel")).to_be_visible()
    found["hold"] = _axe_violations(page)
    page.get_by_role("button", name="Confirm and book").click()
    expect(page.get_by_role("heading", name="Booked")).to_be_visible()
    found["booked"] = _axe_violations(page)
    page.get_by_role("link", name="My bookings").first.click()
    expect(page.locator("#booking-rows tr")).to_have_count(1)
    found["my bookings"] = _axe_violations(page)
    assert not any(found.values()), found


# --- behind an API Gateway stage prefix ---------------------------------------------------------

def test_box_office_works_behind_a_stage_prefix(gateway, live_stack, new_page):
    """`gateway` (test_browser.py) serves /api/... from the app in this process, as API Gateway would."""
    expect = _expect()
    base, handle = gateway
    show_id = live_stack.add_show(movie_id=2, total_seats=100, days_ahead=8)
    username = _signed_up(live_stack, "max")
    page, recorder = new_page()
    page.context.route(f"{base}/**", handle)
    _log_in(page, base, username)
    page.get_by_role("link", name="The Grand Budapest Hotel").click()
    _open_show(page, 2, show_id)
    _seat(page, "C5").click()
    page.get_by_role("button", name="Hold selected seats").click()
    expect(page.locator("#countdown")).to_have_text(re.compile(r"^\d+:\d\d$"))
    page.get_by_role("button", name="Confirm and book").click()
    expect(page.locator("#booked-list li")).to_have_text(["Row C seat 5, standard, 9.50 €"])
    _screenshot(page, "box-office-stage.png")
    stray = [url for _, url in recorder.requests if not url.startswith(base + "/")]
    assert not stray, f"requests outside the stage prefix: {stray}"
