"""scripts/local_dynamodb.py's direct path (``DynamoDBFirst.call_handler``) answers byte for byte as
moto's Flask route does: the same requests, sent through each path on a fresh moto, get the same
status, headers and body (request ids and creation times aside)."""
import json

import pytest
from moto.backends import get_backend
from werkzeug.test import Client

import local_dynamodb
from chalicelib import storage

AUTH = ("AWS4-HMAC-SHA256 Credential=testing/20261201/us-east-1/dynamodb/aws4_request, "
        "SignedHeaders=host;x-amz-target, Signature=0")
TABLE = "direct-path"


def s(value):
    return {"S": value}


KEY = {"PK": s("USER#a"), "SK": s("BOOKING#1")}
REQUESTS = [
    ("CreateTable", {**storage.table_definition(TABLE)}),
    ("PutItem", {"TableName": TABLE, "Item": {**KEY, "status": s("booked"), "GSI1PK": s("G"), "GSI1SK": s("x")}}),
    ("PutItem", {"TableName": TABLE, "Item": KEY, "ConditionExpression": "attribute_not_exists(PK)",
                 "ReturnValuesOnConditionCheckFailure": "ALL_OLD"}),
    ("PutItem", {"TableName": TABLE, "Item": {"PK": s("USER#a"), "SK": s("BOOKING#2")}}),
    ("GetItem", {"TableName": TABLE, "Key": KEY, "ConsistentRead": True}),
    ("Query", {"TableName": TABLE, "KeyConditionExpression": "PK = :p", "Limit": 1,
               "ExpressionAttributeValues": {":p": s("USER#a")}}),
    ("Query", {"TableName": TABLE, "IndexName": "GSI1", "KeyConditionExpression": "GSI1PK = :g",
               "ExpressionAttributeValues": {":g": s("G")}}),
    ("UpdateItem", {"TableName": TABLE, "Key": KEY, "UpdateExpression": "SET #s = :c",
                    "ConditionExpression": "#s = :b", "ExpressionAttributeNames": {"#s": "status"},
                    "ExpressionAttributeValues": {":c": s("cancelled"), ":b": s("booked")}, "ReturnValues": "ALL_NEW"}),
    ("TransactWriteItems", {"TransactItems": [
        {"ConditionCheck": {"TableName": TABLE, "Key": KEY, "ConditionExpression": "attribute_not_exists(PK)"}},
        {"Put": {"TableName": TABLE, "Item": {"PK": s("SHOW#1"), "SK": s("SEAT#1")}}}]}),
    ("TransactWriteItems", {"TransactItems": [
        {"Put": {"TableName": TABLE, "Item": {"PK": s("SHOW#1"), "SK": s("SEAT#1")},
                 "ConditionExpression": "attribute_not_exists(PK)"}},
        {"Delete": {"TableName": TABLE, "Key": {"PK": s("USER#a"), "SK": s("BOOKING#2")}}}]}),
    ("DeleteItem", {"TableName": TABLE, "Key": KEY, "ReturnValues": "ALL_OLD"}),
    ("GetItem", {"TableName": "no-such-table", "Key": KEY}),
    ("PutItem", {"TableName": TABLE, "Item": {"PK": s("x")}}),  # no sort key: ValidationException
    ("NoSuchAction", {}),  # moto raises (a 500 from the server) on both paths
    ("DescribeTable", {"TableName": TABLE}),
]
CREATION_TIMES = {"CreateTable": "TableDescription", "DescribeTable": "Table"}


def send(client, action, body, origin=None):
    headers = {"X-Amz-Target": f"DynamoDB_20120810.{action}", "Content-Type": "application/x-amz-json-1.0",
               "Authorization": AUTH, **({"Origin": origin} if origin else {})}
    try:
        response = client.post("/", data=json.dumps(body), headers=headers)
    except Exception as exc:  # what the server turns into a 500
        return "raised", type(exc).__name__, str(exc)
    header_map = {k.lower(): v for k, v in response.headers.items() if k.lower() != "x-amzn-requestid"}
    content = response.get_data()
    if action in CREATION_TIMES:  # created "now": the only fields that differ between two runs
        document = json.loads(content)
        description = document[CREATION_TIMES[action]]
        description.pop("CreationDateTime", None)
        # the table's stream (issue 20) is labelled with its creation time
        for stream_name in ("LatestStreamLabel", "LatestStreamArn"):
            assert description.pop(stream_name, "") != ""
        content = json.dumps(document, sort_keys=True)
        for depends_on_the_time in ("x-amz-crc32", "content-length"):
            header_map.pop(depends_on_the_time, None)
    return response.status, header_map, content


def answers(direct, origin=None):
    get_backend("dynamodb").reset()
    app = local_dynamodb.DynamoDBFirst()
    app.direct = direct
    if direct and origin is None:
        def no_flask(environ, start_response):
            raise AssertionError("a plain SDK request went through Flask")
        app.dynamodb = no_flask
    client = Client(app)
    return [send(client, action, body, origin) for action, body in REQUESTS]


@pytest.fixture(autouse=True)
def fresh_moto():
    yield
    get_backend("dynamodb").reset()


def test_the_direct_path_answers_exactly_as_moto_flask_route():
    through_flask = answers(direct=False)
    direct = answers(direct=True)
    for (action, _), flask_answer, direct_answer in zip(REQUESTS, through_flask, direct):
        assert direct_answer == flask_answer, action
    statuses = [status for status, _, _ in direct]
    assert statuses.count("200 OK") == 10 and statuses.count("400 BAD REQUEST") == 4, statuses
    assert direct[REQUESTS.index(("NoSuchAction", {}))][:2] == ("raised", "OperationNotFoundError")


def test_a_browser_request_still_goes_through_flask_and_its_cors_answer():
    assert answers(direct=True, origin="http://localhost:8000") == answers(direct=False, origin="http://localhost:8000")
    _, headers, _ = answers(direct=True, origin="http://localhost:8000")[0]
    assert headers["access-control-allow-origin"] == "http://localhost:8000" and headers["vary"] == "Origin"
