"""limit/cursor paging with RFC 8288 Link headers, and the shows date filter."""
import re
import urllib.parse

import pytest

from chalicelib import importer


def next_link(response):
    match = re.match(r'<([^>]+)>; rel="next"', response.headers.get("Link", ""))
    return match.group(1) if match else None


def path_of(url):
    parts = urllib.parse.urlsplit(url)
    return f"{parts.path}?{parts.query}"


def many_movies(count):
    importer.import_catalog([{"id": i, "title": f"Movie {i}", "duration_minutes": 90} for i in range(1, count + 1)])


def test_movies_default_page_is_50_with_a_next_link(api, aws):
    many_movies(60)
    first = api.get("/movies/")
    assert len(first.data) == 50
    second = api.get(path_of(next_link(first)))
    assert [m["id"] for m in second.data] == list(range(51, 61))
    assert next_link(second) is None


def test_walking_pages_returns_every_movie_once(api, aws):
    many_movies(23)
    seen, response = [], api.get("/movies/?limit=5")
    while True:
        seen += [m["id"] for m in response.data]
        link = next_link(response)
        if not link:
            break
        assert "limit=5" in link
        response = api.get(path_of(link))
    assert seen == list(range(1, 24))


def test_link_keeps_the_path_and_never_takes_the_clients_host(api, aws):
    many_movies(3)
    link = next_link(api.get("/movies/?limit=1", headers={"Host": "example.test", "X-Forwarded-Proto": "javascript"}))
    assert link.startswith("/movies/?")  # relative: no domain was given by a gateway or the settings


@pytest.mark.parametrize("limit", ["0", "101", "-1", "abc", "1.5", "99999999999999999999"])
def test_bad_limit_is_400(api, aws, limit):
    response = api.get(f"/movies/?limit={limit}")
    assert response.status_code == 400
    assert response.data["Code"] == "ValidationError"


def test_tampered_cursor_is_400(api, aws):
    many_movies(3)
    cursor = urllib.parse.parse_qs(urllib.parse.urlsplit(next_link(api.get("/movies/?limit=1"))).query)["cursor"][0]
    tampered = cursor[:-2] + ("AA" if cursor[-2:] != "AA" else "BB")
    for bad in (tampered, "garbage", "", "%%%"):
        response = api.get(f"/movies/?cursor={urllib.parse.quote(bad)}")
        assert response.status_code == 400, bad
        assert response.data["Code"] == "InvalidCursor"


def test_cursor_from_another_query_is_400(api, demo):
    token = api.token_for()
    for seat in (1, 2, 3):
        api.post("/shows/1/book/", {"seat_number": seat}, token=token)
    bookings_cursor = urllib.parse.parse_qs(
        urllib.parse.urlsplit(next_link(api.get("/my-bookings/?limit=1", token=token))).query)["cursor"][0]
    assert api.get(f"/movies/?cursor={bookings_cursor}").status_code == 400
    other = api.token_for("bob")
    assert api.get(f"/my-bookings/?cursor={bookings_cursor}", token=other).status_code == 400


def test_my_bookings_pages_newest_first(api, demo):
    token = api.token_for()
    ids = [api.post("/shows/1/book/", {"seat_number": s}, token=token).data["id"] for s in range(1, 6)]
    first = api.get("/my-bookings/?limit=2", token=token)
    second = api.get(path_of(next_link(first)), token=token)
    third = api.get(path_of(next_link(second)), token=token)
    assert [b["id"] for b in first.data + second.data + third.data] == ids[::-1]


def test_shows_page_and_filter_by_date(api, demo):
    shows = demo[0]["shows"]
    day = shows[1]["date_time"][:10]
    response = api.get(f"/movies/1/shows/?date={day}")
    assert [s["id"] for s in response.data] == [s["id"] for s in shows if s["date_time"].startswith(day)]
    paged = api.get("/movies/1/shows/?limit=1")
    assert len(paged.data) == 1
    assert "limit=1" in next_link(paged)


def test_shows_date_filter_keeps_paging_filtered(api, aws):
    importer.import_catalog([{"id": 1, "title": "M", "duration_minutes": 90, "shows": [
        {"id": i, "screen_name": "S", "date_time": f"2030-01-0{1 + i % 2}T1{i}:00:00Z", "total_seats": 40}
        for i in range(1, 7)]}])
    first = api.get("/movies/1/shows/?date=2030-01-02&limit=2")
    assert "date=2030-01-02" in next_link(first)
    second = api.get(path_of(next_link(first)))
    dates = {s["date_time"][:10] for s in first.data + second.data}
    assert dates == {"2030-01-02"}
    assert len(first.data + second.data) == 3


def test_shows_of_known_movie_on_an_empty_date_is_an_empty_list(api, demo):
    assert api.get("/movies/1/shows/?date=2001-01-01").data == []
    assert api.get("/movies/999/shows/?date=2001-01-01").status_code == 404


@pytest.mark.parametrize("date", ["2030-13-01", "tomorrow", "2030-1-1", "2030-02-30"])
def test_bad_date_filter_is_400(api, demo, date):
    assert api.get(f"/movies/1/shows/?date={date}").status_code == 400
