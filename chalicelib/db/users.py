"""A user's account items (``USER#k``): the profile and the login-failure counter."""
from typing import Optional

from chalicelib import keys, storage


def put_new(user: dict) -> None:
    """Store a new profile unless the key exists (ConditionFailed carries the existing profile)."""
    storage.put({**keys.user_key(user["user_id"]), "type": "user", **user},
                condition="attribute_not_exists(PK)", return_old=True)


def get(key: str) -> Optional[dict]:
    return storage.get(keys.user_key(key), consistent=True)


def set_role(key: str, role: str) -> bool:
    """False if there is no such user."""
    try:
        storage.update(keys.user_key(key), "SET #role = :role", condition="attribute_exists(PK)",
                       names={"#role": "role"}, values={":role": role})
    except storage.ConditionFailed:
        return False
    return True


def login_state(key: str) -> tuple:
    """(profile or None, failure counter or None): one consistent Query of the account items."""
    found = {item["SK"]: item for item in storage.query_page(
        "PK = :pk AND begins_with(SK, :account)", {":pk": keys.user_pk(key), ":account": keys.ACCOUNT_PREFIX},
        consistent=True).items}
    return found.get(keys.PROFILE_SK), found.get(keys.LOGIN_FAILURES_SK)


def put_failures(key: str, counter: dict) -> None:
    storage.put({**keys.login_failures_key(key), **counter})


def clear_failures(key: str) -> None:
    storage.delete(keys.login_failures_key(key))


def revoke_sessions(key: str, before: int) -> None:
    """Record that every refresh token issued before ``before`` is revoked."""
    storage.update(keys.user_key(key), "SET sessions_revoked_at = :before", condition="attribute_exists(PK)",
                   values={":before": before})
