"""The catalog partition (``MOVIES``): every movie, so that listing movies is one Query."""
from typing import Optional

from chalicelib import keys, storage
from chalicelib.storage import Page, Transaction


def movie_item(movie: dict) -> dict:
    """The stored item of a movie record (``id``, ``title``, ``duration_minutes``)."""
    return {**keys.movie_key(movie["id"]), "type": "movie", **movie}


def page(limit: int = None, start: dict = None) -> Page:
    return storage.query_page("PK = :pk AND begins_with(SK, :movie)",
                              {":pk": keys.MOVIES_PK, ":movie": keys.MOVIE_PREFIX}, limit=limit, start=start)


def get(movie_id: int) -> Optional[dict]:
    return storage.get(keys.movie_key(movie_id))


def put_new(movie: dict) -> None:
    """Store a movie unless its id exists (ConditionFailed carries the existing item)."""
    storage.put(movie_item(movie), condition="attribute_not_exists(PK)", return_old=True)


def update(movie_id: int, values: dict) -> Optional[dict]:
    """SET ``values`` on the movie; the whole new item, or None if there is no such movie."""
    try:
        return storage.set_fields(keys.movie_key(movie_id), values)
    except storage.ConditionFailed:
        return None


def exists_part(tx: Transaction, name, movie_id: int) -> None:
    tx.check(name, keys.movie_key(movie_id), "attribute_exists(PK)")


def delete_part(tx: Transaction, name, movie_id: int) -> None:
    tx.delete(name, keys.movie_key(movie_id), condition="attribute_exists(PK)")
