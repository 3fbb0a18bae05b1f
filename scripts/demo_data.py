"""Demo movies and shows, dated in the coming days relative to when they are loaded."""
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


def demo_catalog(today=None):
    today = today or dt.datetime.now(dt.timezone.utc).date()
    movies, show_id = [], 0
    for movie_id, title, minutes in MOVIES:
        shows = []
        for offset, (days, hour, screen, seats) in enumerate(SHOW_PLAN[: 2 + movie_id % 2]):
            show_id += 1
            starts = dt.datetime.combine(today + dt.timedelta(days=days), dt.time(hour + offset % 2),
                                         tzinfo=dt.timezone.utc)
            shows.append({"id": show_id, "screen_name": screen,
                          "date_time": starts.strftime("%Y-%m-%dT%H:%M:%SZ"), "total_seats": seats})
        movies.append({"id": movie_id, "title": title, "duration_minutes": minutes, "shows": shows})
    return movies
