"""DynamoDB access: the lazily created client, item (de)serialisation, the table schema and fault mapping."""
import functools
import logging

from chalicelib.errors import ServiceUnavailable
from chalicelib.settings import get_settings

log = logging.getLogger(__name__)

TTL_ATTRIBUTE = "expires_at"
GSI1 = "GSI1"

# Errors that mean "DynamoDB is overloaded or failing", left after botocore's bounded retries.
UNAVAILABLE_CODES = frozenset({
    "ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded",
    "InternalServerError", "ServiceUnavailable", "TransactionInProgressException",
    "TransactionConflictException",
})


@functools.lru_cache(maxsize=1)
def client():
    """The DynamoDB client, made on first use (not at import: moto must be active first, and cold starts stay fast).

    boto3 picks up AWS_ENDPOINT_URL_DYNAMODB itself, which is how the local endpoint is chosen.
    """
    import boto3
    from botocore.config import Config

    settings = get_settings()
    config = Config(
        retries={"mode": "standard", "total_max_attempts": settings.dynamodb_max_attempts},
        max_pool_connections=32,  # one per thread under `chalice local`; Lambda uses one
        connect_timeout=settings.dynamodb_connect_timeout,
        read_timeout=settings.dynamodb_read_timeout,
    )
    return boto3.client("dynamodb", config=config)


def table_name():
    return get_settings().table_name


def reset():
    """Drop the cached client (tests start a fresh moto mock per case)."""
    client.cache_clear()


@functools.lru_cache(maxsize=1)
def _serializer():
    from boto3.dynamodb.types import TypeSerializer
    return TypeSerializer()


@functools.lru_cache(maxsize=1)
def _deserializer():
    from boto3.dynamodb.types import TypeDeserializer
    return TypeDeserializer()


def to_item(values):
    """Plain dict -> DynamoDB attribute map (None values are left out)."""
    serialize = _serializer().serialize
    return {k: serialize(v) for k, v in values.items() if v is not None}


def from_item(item):
    """DynamoDB attribute map -> plain dict, with whole numbers as int."""
    deserialize = _deserializer().deserialize
    out = {}
    for key, value in item.items():
        plain = deserialize(value)
        if hasattr(plain, "as_integer_ratio") and not isinstance(plain, (int, float)):
            plain = int(plain) if plain == plain.to_integral_value() else float(plain)
        out[key] = plain
    return out


def start_after(exclusive_start_key):
    """Query arguments that resume after a page's last key (a plain dict from a cursor)."""
    return {"ExclusiveStartKey": to_item(exclusive_start_key)} if exclusive_start_key else {}


def last_key(response):
    """A page's LastEvaluatedKey as a plain dict, or None on the last page."""
    last = response.get("LastEvaluatedKey")
    return from_item(last) if last else None


def error_code(exc):
    response = getattr(exc, "response", None) or {}
    return response.get("Error", {}).get("Code", "")


def cancellation_codes(exc):
    """Per-item reasons of a cancelled TransactWriteItems, as a list of (code, old item or None)."""
    reasons = (getattr(exc, "response", None) or {}).get("CancellationReasons", [])
    return [(r.get("Code", "None"), from_item(r["Item"]) if r.get("Item") else None) for r in reasons]


def is_unavailable(exc):
    """True for faults that bounded retries did not cure: throttling, 5xx, timeouts, lost connections."""
    from botocore.exceptions import ClientError, ConnectionError, HTTPClientError

    if isinstance(exc, ClientError):
        return error_code(exc) in UNAVAILABLE_CODES
    return isinstance(exc, (ConnectionError, HTTPClientError))


def unavailable(exc):
    log.warning("dynamodb unavailable after retries: %s", exc)
    return ServiceUnavailable("The booking store is busy; retry shortly.", retry_after=1)


TRANSACTION_ATTEMPTS = 3  # a TransactionConflict is retried; conditions are re-evaluated each time


def transact(writes):
    """Run a TransactWriteItems; None on success, else the per-item (reason, old item or None) list.

    One ClientRequestToken per attempt makes botocore's own retries idempotent on DynamoDB (a retry
    after a lost response succeeds instead of failing its conditions). A TransactionConflict (another
    transaction touched the items) is retried; if it persists, ServiceUnavailable.
    """
    import uuid

    ddb = client()
    for _ in range(TRANSACTION_ATTEMPTS):
        try:
            ddb.transact_write_items(TransactItems=writes, ClientRequestToken=str(uuid.uuid4()))
            return None
        except ddb.exceptions.TransactionCanceledException as exc:
            reasons = cancellation_codes(exc)
            if len(reasons) != len(writes):
                raise ServiceUnavailable("The store gave an unexpected answer; retry shortly.")
            if not any(code == "TransactionConflict" for code, _ in reasons):
                return reasons
        except ddb.exceptions.IdempotentParameterMismatchException:
            pass  # a token reused within DynamoDB's 10 minutes for other items: retry with a new one
    raise ServiceUnavailable("The data is in heavy demand; retry shortly.", retry_after=1)


def table_definition(name):
    """CreateTable arguments; the CloudFormation template in infra/ mirrors these."""
    string = "S"
    return {
        "TableName": name,
        "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": [
            {"AttributeName": a, "AttributeType": string} for a in ("PK", "SK", "GSI1PK", "GSI1SK")
        ],
        "KeySchema": [
            {"AttributeName": "PK", "KeyType": "HASH"},
            {"AttributeName": "SK", "KeyType": "RANGE"},
        ],
        "GlobalSecondaryIndexes": [{
            "IndexName": GSI1,
            "KeySchema": [
                {"AttributeName": "GSI1PK", "KeyType": "HASH"},
                {"AttributeName": "GSI1SK", "KeyType": "RANGE"},
            ],
            "Projection": {"ProjectionType": "ALL"},
        }],
    }


def create_table(name=None):
    """Create the table (and turn on TTL) unless it exists; returns True when it was created."""
    name = name or table_name()
    ddb = client()
    try:
        ddb.create_table(**table_definition(name))
    except ddb.exceptions.ResourceInUseException:
        return False
    ddb.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 60})
    ddb.update_time_to_live(
        TableName=name, TimeToLiveSpecification={"Enabled": True, "AttributeName": TTL_ATTRIBUTE})
    return True
