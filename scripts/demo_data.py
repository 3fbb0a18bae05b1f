"""Demo movies and shows, dated in the coming days relative to when they are loaded.

Every show has a real seating plan: rows A-J from the screen back, the back two rows (I, J)
premium, and in row A an accessible seat with a companion seat beside it at each end. The last
show of the last movie (show 10, "Arrival" in Screen 2) keeps no single empty seats
(``no_single_seat_gaps``); the others do not.
"""
import datetime as dt

MOVIES = [
    (1, "Inception", 148),
    (2, "The Grand Budapest Hotel", 99),
    (3, "Spirited Away", 125),
    (4, "Arrival", 116),
]
# (days from today, hour UTC, screen, seats) per show; two or more per movie.
SHOW_PLAN = [
    (1, 18, "Screen 1", 120),
    (2, 20, "Screen 2", 60),
    (3, 15, "IMAX", 200),
]
ROWS = "ABCDEFGHIJ"
PREMIUM_ROWS = "IJ"
CATEGORIES = {"standard": {"price": 950}, "premium": {"price": 1450}, "accessible": {"price": 950},
              "companion": {"price": 950}}
CURRENCY = "EUR"


def demo_layout(total_seats):
    """Rows A-J of total_seats / 10 seats each."""
    per_row = total_seats // len(ROWS)
    rows = []
    for label in ROWS:
        if label == "A":
            middle = ["standard"] * (per_row - 4)
            rows.append({"label": label, "seats": ["accessible", "companion", *middle, "companion", "accessible"]})
        else:
            rows.append({"label": label, "seats": per_row,
                         "category": "premium" if label in PREMIUM_ROWS else "standard"})
    return rows


def demo_catalog(today=None):
    today = today or dt.datetime.now(dt.timezone.utc).date()
    movies, show_id = [], 0
    for movie_id, title, minutes in MOVIES:
        shows = []
        for offset, (days, hour, screen, seats) in enumerate(SHOW_PLAN[: 2 + movie_id % 2]):
            show_id += 1
            starts = dt.datetime.combine(today + dt.timedelta(days=days), dt.time(hour + offset % 2),
                                         tzinfo=dt.timezone.utc)
            shows.append({"id": show_id, "screen_name": screen, "date_time": starts.strftime("%Y-%m-%dT%H:%M:%SZ"),
                          "total_seats": seats, "layout": demo_layout(seats), "categories": CATEGORIES,
                          "currency": CURRENCY})
        movies.append({"id": movie_id, "title": title, "duration_minutes": minutes, "shows": shows})
    movies[-1]["shows"][-1]["no_single_seat_gaps"] = True
    return movies
