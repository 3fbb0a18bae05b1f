"""A user's account items (``USER#k``): the profile with its session generation, and the claim on
the username's look (``LOOKALIKE#<skeleton digest>``). Login throttling lives in ``login_throttle``."""
from dataclasses import dataclass, field
from typing import Optional

from chalicelib import keys, storage
from chalicelib.storage import Transaction

SESSION_GENERATION = "session_generation"  # absent on profiles made before it existed: generation 0


@dataclass
class LoginState:
    """What a login reads in one Query: the profile (or None), the username's failure counter (or
    None) and the addresses the user logged in from, each with the time its trust ends."""

    profile: Optional[dict] = None
    failures: Optional[dict] = None
    trusted: dict = field(default_factory=dict)


def put_new_part(tx: Transaction, name, user: dict) -> None:
    """Store a new profile unless the key exists (a refusal returns the existing profile)."""
    tx.put(name, {**keys.user_key(user["user_id"]), "type": "user", SESSION_GENERATION: 0, **user},
           condition="attribute_not_exists(PK)", return_old=True)


def claim_lookalike_part(tx: Transaction, name, skeleton: str, key: str) -> None:
    """Claim the username's skeleton for ``key`` unless another account holds it (a refusal returns
    the claim, whose ``user`` names the holder). A claim left by the same key is taken over."""
    tx.put(name, {**keys.lookalike_key(skeleton), "type": "lookalike", "user": key},
           condition="attribute_not_exists(PK) OR #user = :key", names={"#user": "user"}, values={":key": key},
           return_old=True)


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


def login_state(key: str) -> LoginState:
    """The account items, read by one consistent Query (they all sort under ACCOUNT_PREFIX)."""
    state = LoginState()
    for item in storage.query_all(
            "PK = :pk AND begins_with(SK, :account)", {":pk": keys.user_pk(key), ":account": keys.ACCOUNT_PREFIX},
            consistent=True):
        if item["SK"] == keys.PROFILE_SK:
            state.profile = item
        elif item["SK"] == keys.LOGIN_FAILURES_SK:
            state.failures = item
        elif item["SK"].startswith(keys.TRUSTED_ADDRESS_PREFIX):
            state.trusted[item["SK"][len(keys.TRUSTED_ADDRESS_PREFIX):]] = item[storage.TTL_ATTRIBUTE]
    return state


def trust_address(key: str, address: str, until: int) -> None:
    """Remember that the user logged in from ``address``, until ``until`` (its TTL too)."""
    storage.put({**keys.trusted_address_key(key, address), storage.TTL_ATTRIBUTE: int(until)})


def generation_of(profile: dict) -> int:
    return int(profile.get(SESSION_GENERATION, 0))


def session_generation_part(tx: Transaction, name, key: str, generation: int) -> None:
    """Check that the profile exists and is still at ``generation`` (no log-out-everywhere since)."""
    condition = "attribute_exists(PK) AND #gen = :gen"
    if generation == 0:
        condition = "attribute_exists(PK) AND (attribute_not_exists(#gen) OR #gen = :gen)"
    tx.check(name, keys.user_key(key), condition, names={"#gen": SESSION_GENERATION}, values={":gen": generation})


def next_session_generation(key: str) -> bool:
    """Move the profile to the next session generation (one atomic ADD); False if there is no profile."""
    try:
        storage.update(keys.user_key(key), "ADD #gen :one", condition="attribute_exists(PK)",
                       names={"#gen": SESSION_GENERATION}, values={":one": 1})
    except storage.ConditionFailed:
        return False
    return True
