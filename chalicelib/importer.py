"""Catalog import: movies and shows from plain records, idempotent (existing ids are skipped, never overwritten)."""
from chalicelib import catalog, storage


def import_catalog(movies):
    """``movies``: [{"id", "title", "duration_minutes", "shows": [{"id", "screen_name", "date_time", "total_seats"}]}].

    Returns {"created": [...], "skipped": [...]} naming each movie/show and why it was skipped.
    """
    report = {"created": [], "skipped": []}
    for movie in movies:
        item = catalog.movie_item(movie["id"], movie["title"], movie["duration_minutes"])
        _put_new(item, f"movie {movie['id']}", report)
        for show in movie.get("shows", []):
            starts = catalog.parse_datetime(show["date_time"])
            item = catalog.show_item(show["id"], movie["id"], show["screen_name"], starts, show["total_seats"])
            _put_new(item, f"show {show['id']}", report)
    return report


def _put_new(item, label, report):
    ddb = storage.client()
    try:
        ddb.put_item(TableName=storage.table_name(), Item=storage.to_item(item),
                     ConditionExpression="attribute_not_exists(PK)")
    except ddb.exceptions.ConditionalCheckFailedException:
        report["skipped"].append({"item": label, "reason": "already exists"})
    else:
        report["created"].append(label)
