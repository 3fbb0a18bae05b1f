"""DynamoDB plumbing: the lazily made client, item (de)serialisation, single-item requests, paged
queries, labelled transactions, the table schema and fault mapping.

Everything here speaks DynamoDB but knows nothing of the app's items: the data-access modules in
``chalicelib.db`` say which keys and conditions to use. Values are plain Python (str, int, float,
bool, list, dict); serialisation happens here.
"""
import functools
import logging
import uuid
from dataclasses import dataclass, field
from typing import Any, Hashable, Iterator, Optional

from chalicelib.errors import ServiceUnavailable
from chalicelib.settings import get_settings

log = logging.getLogger(__name__)

TTL_ATTRIBUTE = "expires_at"
GSI1 = "GSI1"
CONDITION_FAILED = "ConditionalCheckFailed"
TRANSACTION_CONFLICT = "TransactionConflict"
TRANSACTION_ATTEMPTS = 3  # a TransactionConflict is retried; conditions are re-evaluated each time
MAX_TRANSACTION_ITEMS = 100

# Errors that mean "DynamoDB is overloaded or failing", left after botocore's bounded retries.
UNAVAILABLE_CODES = frozenset({
    "ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded",
    "InternalServerError", "ServiceUnavailable", "TransactionInProgressException",
    "TransactionConflictException",
})

Item = dict


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


def table_name() -> str:
    return get_settings().table_name


_reset_hooks: list = []


def on_reset(hook) -> None:
    """Have :func:`reset` also call ``hook`` (data-access caches register their ``clear``)."""
    _reset_hooks.append(hook)


def reset() -> None:
    """Drop the cached client and every registered cache (tests start a fresh moto mock per case)."""
    client.cache_clear()
    for hook in _reset_hooks:
        hook()


# --- values ------------------------------------------------------------------------------------

@functools.lru_cache(maxsize=1)
def _serializer():
    from boto3.dynamodb.types import TypeSerializer
    return TypeSerializer()


@functools.lru_cache(maxsize=1)
def _deserializer():
    from boto3.dynamodb.types import TypeDeserializer
    return TypeDeserializer()


def _number(value):
    from decimal import Decimal
    return Decimal(repr(value)) if isinstance(value, float) else value


def _to_dynamo(value):
    if isinstance(value, float):
        return _number(value)
    if isinstance(value, dict):
        return {k: _to_dynamo(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_to_dynamo(v) for v in value]
    return value


def _from_dynamo(value):
    if hasattr(value, "as_integer_ratio") and not isinstance(value, (int, float)):  # Decimal
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _from_dynamo(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_from_dynamo(v) for v in value]
    return value


def to_item(values: dict) -> dict:
    """Plain dict -> DynamoDB attribute map (None values are left out; floats become exact numbers)."""
    serialize = _serializer().serialize
    return {k: serialize(_to_dynamo(v)) for k, v in values.items() if v is not None}


def from_item(item: dict) -> dict:
    """DynamoDB attribute map -> plain dict, with whole numbers as int (also inside lists and maps)."""
    return {key: _plain(value) for key, value in item.items()}


def _plain(value: dict):
    """One attribute value as plain Python. The common types are decoded here directly (boto3's
    TypeDeserializer costs ~50 µs an item, most of a seat map's time); sets and binary go through
    it. tests/unit/test_storage_values.py checks that both always agree."""
    (kind, raw), = value.items()
    if kind == "S" or kind == "BOOL":
        return raw
    if kind == "N":
        try:
            return int(raw)
        except ValueError:
            return _from_dynamo(_deserializer().deserialize(value))
    if kind == "M":
        return {key: _plain(inner) for key, inner in raw.items()}
    if kind == "L":
        return [_plain(inner) for inner in raw]
    if kind == "NULL":
        return None
    return _from_dynamo(_deserializer().deserialize(value))


# --- single-item requests ------------------------------------------------------------------------

class ConditionFailed(Exception):
    """A conditional write was refused; ``old`` is the item that blocked it (when asked for), or None."""

    def __init__(self, old: Optional[dict]):
        super().__init__("condition failed")
        self.old = old


def _given(**args) -> dict:
    """The request arguments that were given (not None, empty or False)."""
    return {name: value for name, value in args.items() if value}


def _expression_args(condition=None, values=None, names=None) -> dict:
    return _given(ConditionExpression=condition, ExpressionAttributeValues=values and to_item(values),
                  ExpressionAttributeNames=names)


def get(key: dict, consistent: bool = False) -> Optional[dict]:
    """The item at ``key``, or None (one GetItem)."""
    response = client().get_item(TableName=table_name(), Key=to_item(key), ConsistentRead=consistent)
    return from_item(response["Item"]) if "Item" in response else None


def put(item: dict, condition: str = None, values: dict = None, names: dict = None,
        return_old: bool = False) -> None:
    """One PutItem; ConditionFailed (carrying the blocking item if ``return_old``) when refused."""
    ddb = client()
    extra = {"ReturnValuesOnConditionCheckFailure": "ALL_OLD"} if return_old else {}
    try:
        ddb.put_item(TableName=table_name(), Item=to_item(item),
                     **_expression_args(condition, values, names), **extra)
    except ddb.exceptions.ConditionalCheckFailedException as exc:
        raise ConditionFailed(_old_item(exc.response)) from None


def update(key: dict, expression: str, condition: str = None, values: dict = None, names: dict = None,
           returning: str = "NONE", return_old: bool = False) -> Optional[dict]:
    """One UpdateItem; the attributes named by ``returning`` (e.g. ALL_NEW), ConditionFailed when refused
    (carrying the blocking item if ``return_old``)."""
    ddb = client()
    try:
        response = ddb.update_item(TableName=table_name(), Key=to_item(key), UpdateExpression=expression,
                                   ReturnValues=returning, **_expression_args(condition, values, names),
                                   **_return_old(return_old))
    except ddb.exceptions.ConditionalCheckFailedException as exc:
        raise ConditionFailed(_old_item(exc.response)) from None
    return from_item(response["Attributes"]) if response.get("Attributes") else None


def set_fields(key: dict, values: dict, increment: dict = None) -> dict:
    """SET ``values`` (and ADD ``increment``) on an existing item (ConditionFailed if there is none);
    the whole new item."""
    names = {f"#f{i}": name for i, name in enumerate(values)}
    expression = "SET " + ", ".join(f"{n} = :v{i}" for i, n in enumerate(names))
    numbers = {f":v{i}": v for i, v in enumerate(values.values())}
    if increment:
        names.update({f"#i{i}": name for i, name in enumerate(increment)})
        numbers.update({f":i{i}": v for i, v in enumerate(increment.values())})
        expression += " ADD " + ", ".join(f"#i{i} :i{i}" for i in range(len(increment)))
    return update(key, expression, condition="attribute_exists(PK)", names=names, values=numbers,
                  returning="ALL_NEW")


def delete(key: dict, condition: str = None, values: dict = None, names: dict = None,
           return_old: bool = False) -> Optional[dict]:
    """One DeleteItem; the deleted item if ``return_old``; ConditionFailed when refused."""
    ddb = client()
    extra = {"ReturnValues": "ALL_OLD"} if return_old else {}
    try:
        response = ddb.delete_item(TableName=table_name(), Key=to_item(key),
                                   **_expression_args(condition, values, names), **extra)
    except ddb.exceptions.ConditionalCheckFailedException:
        raise ConditionFailed(None) from None
    return from_item(response["Attributes"]) if response.get("Attributes") else None


def _old_item(response) -> Optional[dict]:
    item = (response or {}).get("Item")
    return from_item(item) if item else None


# --- queries -------------------------------------------------------------------------------------

@dataclass
class Page:
    items: list
    last_key: Optional[dict]  # DynamoDB's LastEvaluatedKey as a plain dict; None on the last page


def query_page(key_condition: str, values: dict, index: str = None, limit: int = None,
               start: dict = None, newest_first: bool = False, consistent: bool = False,
               projection: str = None) -> Page:
    """One Query request: at most ``limit`` items after ``start`` (a previous page's ``last_key``)."""
    response = client().query(
        TableName=table_name(), KeyConditionExpression=key_condition, ExpressionAttributeValues=to_item(values),
        ScanIndexForward=not newest_first, **_given(IndexName=index, Limit=limit, ConsistentRead=consistent,
                                                    ExclusiveStartKey=start and to_item(start),
                                                    ProjectionExpression=projection))
    last = response.get("LastEvaluatedKey")
    return Page([from_item(i) for i in response["Items"]], from_item(last) if last else None)


def query_all(key_condition: str, values: dict, **options) -> Iterator[dict]:
    """Every item a Query matches, following LastEvaluatedKey (one request per 1 MB page)."""
    start = None
    while True:
        page = query_page(key_condition, values, start=start, **options)
        yield from page.items
        start = page.last_key
        if not start:
            return


# --- transactions ---------------------------------------------------------------------------------

@dataclass
class TransactionResult:
    """What a TransactWriteItems did, read by the names its parts were given."""

    reasons: dict = field(default_factory=dict)  # name -> (code, old item or None); empty on success

    @property
    def ok(self) -> bool:
        return not self.reasons

    def failed(self, name: Hashable) -> bool:
        """True if the part's condition failed (the reason the transaction was cancelled)."""
        return self.reasons.get(name, ("None", None))[0] == CONDITION_FAILED

    def old(self, name: Hashable) -> Optional[dict]:
        """The item that blocked the part (asked for with ``return_old=True``), or None."""
        return self.reasons.get(name, ("None", None))[1]

    def failed_names(self) -> list:
        return [name for name in self.reasons if self.failed(name)]


class Transaction:
    """A TransactWriteItems built from named parts, all or none, read back by name.

        tx = Transaction()
        tx.check("show", show_key, "attribute_exists(PK)")
        tx.put(("seat", 5), seat_item, condition="attribute_not_exists(PK)", return_old=True)
        result = tx.commit()
        if result.failed("show"): ...
        holder = result.old(("seat", 5))

    ``token`` is the ClientRequestToken of the first attempt (a fresh one otherwise); with it,
    DynamoDB treats botocore's own retry of an attempt whose answer was lost as the same request.
    """

    def __init__(self, token: str = None):
        self.token = token
        self._names: list = []
        self._parts: list = []

    def __len__(self) -> int:
        return len(self._parts)

    @property
    def names(self) -> list:
        return list(self._names)

    def _add(self, name: Hashable, kind: str, body: dict) -> "Transaction":
        if name in self._names:
            raise ValueError(f"transaction part {name!r} is named twice")
        self._names.append(name)
        self._parts.append({kind: {"TableName": table_name(), **body}})
        return self

    def check(self, name: Hashable, key: dict, condition: str, values: dict = None,
              names: dict = None) -> "Transaction":
        return self._add(name, "ConditionCheck", {"Key": to_item(key),
                                                  **_expression_args(condition, values, names)})

    def put(self, name: Hashable, item: dict, condition: str = None, values: dict = None, names: dict = None,
            return_old: bool = False) -> "Transaction":
        return self._add(name, "Put", {"Item": to_item(item), **_expression_args(condition, values, names),
                                       **_return_old(return_old)})

    def update(self, name: Hashable, key: dict, expression: str, condition: str = None, values: dict = None,
               names: dict = None, return_old: bool = False) -> "Transaction":
        return self._add(name, "Update", {"Key": to_item(key), "UpdateExpression": expression,
                                          **_expression_args(condition, values, names), **_return_old(return_old)})

    def delete(self, name: Hashable, key: dict, condition: str = None, values: dict = None, names: dict = None,
               return_old: bool = False) -> "Transaction":
        return self._add(name, "Delete", {"Key": to_item(key), **_expression_args(condition, values, names),
                                          **_return_old(return_old)})

    def commit(self) -> TransactionResult:
        """Run it; a TransactionResult whose ``ok`` says whether everything was written.

        A TransactionConflict (another transaction held one of the items) is retried with a new
        token, its conditions re-evaluated; if it persists, ServiceUnavailable.
        """
        if not self._parts:
            return TransactionResult()
        if len(self._parts) > MAX_TRANSACTION_ITEMS:
            raise ValueError(f"a transaction holds at most {MAX_TRANSACTION_ITEMS} items")
        ddb = client()
        token = self.token or str(uuid.uuid4())
        for _ in range(TRANSACTION_ATTEMPTS):
            try:
                ddb.transact_write_items(TransactItems=self._parts, ClientRequestToken=token)
                return TransactionResult()
            except ddb.exceptions.TransactionCanceledException as exc:
                reasons = (exc.response or {}).get("CancellationReasons", [])
                if len(reasons) != len(self._parts):
                    raise ServiceUnavailable("The store gave an unexpected answer; retry shortly.")
                codes = [r.get("Code", "None") for r in reasons]
                if TRANSACTION_CONFLICT not in codes:
                    return TransactionResult({
                        name: (code, from_item(r["Item"]) if r.get("Item") else None)
                        for name, code, r in zip(self._names, codes, reasons) if code != "None"})
            except ddb.exceptions.IdempotentParameterMismatchException:
                pass  # a token reused within DynamoDB's 10 minutes for other items: retry with a new one
            token = str(uuid.uuid4())
        raise ServiceUnavailable("The data is in heavy demand; retry shortly.", retry_after=1)


def _return_old(wanted: bool) -> dict:
    return {"ReturnValuesOnConditionCheckFailure": "ALL_OLD"} if wanted else {}


# --- faults --------------------------------------------------------------------------------------

def error_code(exc) -> str:
    response = getattr(exc, "response", None) or {}
    return response.get("Error", {}).get("Code", "")


def is_unavailable(exc: BaseException) -> bool:
    """True for faults that bounded retries did not cure: throttling, 5xx, timeouts, lost connections."""
    from botocore.exceptions import ClientError, ConnectionError, HTTPClientError

    if isinstance(exc, ClientError):
        return error_code(exc) in UNAVAILABLE_CODES
    return isinstance(exc, (ConnectionError, HTTPClientError))


def unavailable(exc: BaseException) -> ServiceUnavailable:
    log.warning("dynamodb unavailable after retries: %s", exc)
    return ServiceUnavailable("The booking store is busy; retry shortly.", retry_after=1)


# --- the table -----------------------------------------------------------------------------------

def table_definition(name: str) -> dict:
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
        # The outbox (chalicelib/outbox.py): every item change, before and after, for the events.
        "StreamSpecification": STREAM_SPECIFICATION,
    }


STREAM_SPECIFICATION = {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"}


def create_table(name: str = None) -> bool:
    """Create the table (and turn on TTL) unless it exists; returns True when it was created."""
    name = name or table_name()
    ddb = client()
    try:
        ddb.create_table(**table_definition(name))
    except ddb.exceptions.ResourceInUseException:
        # A table made before the outbox existed (a developer's .local-data) gets its stream.
        if not ddb.describe_table(TableName=name)["Table"].get("StreamSpecification", {}).get("StreamEnabled"):
            ddb.update_table(TableName=name, StreamSpecification=STREAM_SPECIFICATION)
        return False
    ddb.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 60})
    ddb.update_time_to_live(
        TableName=name, TimeToLiveSpecification={"Enabled": True, "AttributeName": TTL_ATTRIBUTE})
    return True
