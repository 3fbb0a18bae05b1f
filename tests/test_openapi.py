"""openapi.yaml is valid, names exactly the app's routes, and is served with the pages as the docs issue asks.

Paths are compared without their trailing slash: Chalice routes have none, the document uses the
original API's form (`/movies/`), and both forms reach the same route. Nothing is excluded: the
documentation routes themselves are documented too.
"""
import json
import os
import re
import uuid

import pytest
import yaml
from chalice.test import Client
from openapi_spec_validator import validate

from chalicelib import docs, settings

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OPENAPI = os.path.join(ROOT, "openapi.yaml")
METHODS = ("get", "put", "post", "delete", "patch", "options", "head", "trace")
PAGES = ("swagger", "redoc")


@pytest.fixture(scope="module", autouse=True)
def built_assets():
    missing = docs.missing_files()
    if missing:
        pytest.fail(f"documentation files not built ({', '.join(missing)}): run `make assets`")
    docs.reset()
    yield
    docs.reset()


@pytest.fixture(scope="module")
def document():
    with open(OPENAPI, encoding="utf-8") as handle:
        return yaml.safe_load(handle)


@pytest.fixture(scope="module")
def chalice_app():
    from app import app

    return app


@pytest.fixture(autouse=True)
def fresh_settings():
    """Settings read afresh in each test (the test client's default stage "dev" would make them a deployed stage's)."""
    settings.reset()
    yield
    settings.reset()


@pytest.fixture
def client(chalice_app):
    """The test client on the local stage, for routes that never touch DynamoDB (the documentation)."""
    with Client(chalice_app, stage_name="local") as client:
        yield client.http


def operations(document):
    for path, item in document["paths"].items():
        for method in METHODS:
            if method in item:
                yield path, method, item[method]


def normalise(path):
    return path.rstrip("/") or "/"


def deref(document, node):
    """``node`` with a top-level ``$ref`` (within this document) followed."""
    while isinstance(node, dict) and "$ref" in node:
        target = document
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        node = target
    return node


# --- the document ------------------------------------------------------------------------------

def test_openapi_yaml_is_a_valid_openapi_document(document):
    validate(document)


def test_document_names_exactly_the_routes_the_app_serves(document, chalice_app):
    documented = {(normalise(path), method.upper()) for path, method, _ in operations(document)}
    served = {(normalise(path), method) for path, methods in chalice_app.routes.items() for method in methods}
    assert not served - documented, f"routes missing from openapi.yaml: {sorted(served - documented)}"
    assert not documented - served, f"documented but not served: {sorted(documented - served)}"


def test_document_paths_use_the_trailing_slash_form_except_for_files(document):
    for path in document["paths"]:
        last = path.rstrip("/").rsplit("/", 1)[-1]
        is_file = "." in last or last == "{asset}"
        assert path.endswith("/") != is_file, f"{path}: use the form with the trailing slash (files: without)"


def test_every_operation_has_a_unique_operation_id_a_summary_and_a_tag(document):
    ids = [operation.get("operationId") for _, _, operation in operations(document)]
    assert None not in ids and len(ids) == len(set(ids)), ids
    tags = {tag["name"] for tag in document["tags"]}
    for path, method, operation in operations(document):
        assert operation.get("summary"), f"{method.upper()} {path}"
        assert len(operation.get("tags", [])) == 1 and operation["tags"][0] in tags, f"{method.upper()} {path}"


def test_every_response_carries_the_request_id(document):
    for path, method, operation in operations(document):
        for status, response in operation["responses"].items():
            headers = deref(document, response).get("headers", {})
            assert "X-Request-Id" in headers, f"{method.upper()} {path} {status}: document X-Request-Id"


def test_every_json_error_response_uses_the_error_schema(document):
    for path, method, operation in operations(document):
        for status, response in operation["responses"].items():
            if int(status) < 400:
                continue
            content = deref(document, response).get("content", {})
            assert list(content) == ["application/json"], f"{method.upper()} {path} {status}"
            assert content["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}, \
                f"{method.upper()} {path} {status}"


def test_error_schema_requires_code_message_and_request_id(document):
    error = document["components"]["schemas"]["Error"]
    assert set(error["required"]) == {"Code", "Message", "request_id"}
    assert {"field", "taken"} <= set(error["properties"])


def test_operations_with_a_body_document_400_413_and_415(document):
    for path, method, operation in operations(document):
        if "requestBody" in operation:
            assert {"400", "413", "415"} <= set(operation["responses"]), f"{method.upper()} {path}"


def test_protected_operations_document_bearer_auth_and_401(document):
    assert document["components"]["securitySchemes"]["bearerAuth"] == {
        **document["components"]["securitySchemes"]["bearerAuth"], "type": "http", "scheme": "bearer"}
    for path, method, operation in operations(document):
        if {"bearerAuth": []} in operation.get("security", []):
            assert "401" in operation["responses"], f"{method.upper()} {path}"


def _call_without_token(api, path, method):
    concrete = re.sub(r"\{asset\}", "LICENSE", path)
    concrete = re.sub(r"\{[^}]+\}", "1", concrete)
    if method in ("post", "put", "patch"):
        return api.request(method.upper(), concrete, json_body={})
    return api.request(method.upper(), concrete)


def test_operations_documented_as_protected_are_exactly_those_refusing_a_missing_token(document, api):
    for path, method, operation in operations(document):
        security = operation.get("security", [])
        required = security == [{"bearerAuth": []}]
        optional = {} in security
        response = _call_without_token(api, path, method)
        refused = response.status_code == 401 and (response.data or {}).get("Code") == "Unauthorized"
        if not optional:
            assert refused == required, (
                f"{method.upper()} {path}: documented {'protected' if required else 'public'}, "
                f"but without a token it answered {response.status_code} {response.body[:120]!r}")


def test_every_documented_status_is_a_number_with_a_description(document):
    for path, method, operation in operations(document):
        for status, response in operation["responses"].items():
            assert re.fullmatch(r"[1-5]\d\d", status), f"{method.upper()} {path}: {status}"
            assert deref(document, response)["description"].strip()


# --- serving the document ----------------------------------------------------------------------

def test_built_files_are_openapi_yaml_as_is_and_converted(document):
    with open(os.path.join(docs.STATIC_DIR, "openapi.json"), encoding="utf-8") as handle:
        assert json.load(handle) == document, "chalicelib/static/openapi.json is stale: run `make assets`"
    with open(os.path.join(docs.STATIC_DIR, "openapi.yaml"), encoding="utf-8") as handle, \
            open(OPENAPI, encoding="utf-8") as source:
        assert handle.read() == source.read(), "chalicelib/static/openapi.yaml is stale: run `make assets`"


def test_api_schema_is_yaml_by_default(client, document):
    response = client.get("/api/schema/")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/yaml")
    with open(OPENAPI, encoding="utf-8") as handle:
        assert response.body.decode("utf-8") == handle.read()


@pytest.mark.parametrize("path, headers", [
    ("/api/schema/?format=json", {}),
    ("/api/schema/", {"Accept": "application/json"}),
    ("/api/schema", {"Accept": "text/html, application/json;q=0.9"}),
    ("/openapi.json", {}),
])
def test_json_document_is_served_on_request(client, document, path, headers):
    response = client.get(path, headers=headers)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    assert json.loads(response.body) == document


def test_openapi_yaml_path_serves_yaml(client, document):
    response = client.get("/openapi.yaml")
    assert response.status_code == 200
    assert yaml.safe_load(response.body) == document


def test_api_schema_rejects_an_unknown_format_with_400(client):
    response = client.get("/api/schema/?format=xml")
    assert response.status_code == 400
    assert json.loads(response.body)["field"] == "format"


# --- behind an API Gateway stage ---------------------------------------------------------------

def gateway_event(path, resource, stage="api", headers=None, query=None, path_parameters=None):
    """A REST API (Lambda proxy) event as API Gateway sends it for https://host/<stage><path>."""
    return {
        "resource": resource,
        "path": path,
        "httpMethod": "GET",
        "headers": {"Host": "abc123.execute-api.eu-west-1.amazonaws.com", "X-Forwarded-Proto": "https",
                    **(headers or {})},
        "multiValueHeaders": {},
        "queryStringParameters": query,
        "multiValueQueryStringParameters": {k: [v] for k, v in query.items()} if query else None,
        "pathParameters": path_parameters,
        "stageVariables": None,
        "requestContext": {
            "resourcePath": resource,
            "httpMethod": "GET",
            "path": f"/{stage}{path}",
            "stage": stage,
            "requestId": str(uuid.uuid4()),
            "identity": {"sourceIp": "203.0.113.7"},
        },
        "body": None,
        "isBase64Encoded": False,
    }


class LambdaContext:
    function_name = "movie-booking-dev"
    memory_limit_in_mb = 1024
    aws_request_id = "00000000-0000-0000-0000-000000000000"

    @staticmethod
    def get_remaining_time_in_millis():
        return 10_000


def test_document_behind_a_stage_names_the_stage_in_servers(chalice_app, document):
    response = chalice_app(gateway_event("/openapi.json", "/openapi.json"), LambdaContext())
    assert response["statusCode"] == 200
    served = json.loads(response["body"])
    assert served["servers"][0]["url"] == "/api"
    assert {k: v for k, v in served.items() if k != "servers"} == \
        {k: v for k, v in document.items() if k != "servers"}
    response = chalice_app(gateway_event("/api/schema/", "/api/schema"), LambdaContext())
    assert yaml.safe_load(response["body"])["servers"][0]["url"] == "/api"


def test_page_behind_a_stage_uses_relative_urls_and_is_not_base64(chalice_app):
    response = chalice_app(gateway_event("/swagger/", "/swagger"), LambdaContext())
    assert response["statusCode"] == 200
    assert not response.get("isBase64Encoded")
    assert "/api/" not in response["body"] and 'src="/' not in response["body"]


def test_page_requested_without_slash_redirects_relatively_under_a_stage(chalice_app):
    response = chalice_app(gateway_event("/swagger", "/swagger"), LambdaContext())
    assert response["statusCode"] == 301
    assert response["headers"]["Location"] == "swagger/"  # resolves to /api/swagger/


@pytest.mark.parametrize("page, asset", [(page, asset) for page in PAGES for asset in
                                         sorted(set(docs.VENDOR_ASSETS[page]) |
                                                {a for p, a in docs.OWN_ASSETS if p == page})])
def test_assets_are_text_never_base64_even_for_browsers_accepting_images(chalice_app, page, asset):
    event = gateway_event(f"/{page}/{asset}", f"/{page}/{{asset}}", path_parameters={"asset": asset},
                          headers={"Accept": "image/avif,image/webp,image/png,*/*;q=0.8"})
    response = chalice_app(event, LambdaContext())
    assert response["statusCode"] == 200
    assert not response.get("isBase64Encoded")
    content_type = response["headers"]["Content-Type"]
    assert content_type.startswith(("text/javascript", "text/css", "text/plain")) and "charset=utf-8" in content_type
    assert content_type.split(";")[0] not in chalice_app.api.binary_types


# --- the pages ---------------------------------------------------------------------------------

@pytest.mark.parametrize("page", PAGES)
def test_page_links_only_relative_urls_of_its_own_files(client, page):
    response = client.get(f"/{page}/")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/html; charset=utf-8"
    html = response.body.decode("utf-8")
    urls = re.findall(r'(?:src|href)="([^"]*)"', html)
    assert urls, html
    for url in urls:
        assert url == "data:," or re.fullmatch(r"[\w.-]+\?v=[\w.-]+", url), url
        if url != "data:,":
            assert client.get(f"/{page}/{url}").status_code == 200, url


@pytest.mark.parametrize("page", PAGES)
def test_page_content_security_policy_allows_no_other_host(client, page):
    policy = client.get(f"/{page}/").headers["Content-Security-Policy"]
    directives = dict(part.strip().split(" ", 1) for part in policy.split(";"))
    assert directives["default-src"] == "'none'"
    assert directives["script-src"] == "'self'"
    assert directives["connect-src"] == "'self'"
    assert directives["frame-ancestors"] == "'none'"
    assert not re.search(r"https?:|\*|'unsafe-eval'", policy)


def test_init_scripts_load_the_document_relative_to_the_page(client):
    for page, asset in docs.OWN_ASSETS:
        script = client.get(f"/{page}/{asset}").body.decode("utf-8")
        assert '"../openapi.json"' in script
        assert "://" not in script


@pytest.mark.parametrize("page", PAGES)
def test_page_without_trailing_slash_redirects_to_it(client, page):
    response = client.get(f"/{page}")
    assert response.status_code == 301
    assert response.headers["Location"] == f"{page}/"


def test_unknown_asset_is_a_json_404(client):
    response = client.get("/swagger/..%2Fapp.py")
    assert response.status_code == 404
    assert json.loads(response.body)["Code"] == "NotFound"


def test_vendor_files_are_the_pinned_packages_with_their_licences(client):
    from build_assets import PACKAGES

    assert docs.vendor_manifest()["packages"] == PACKAGES
    for page in PAGES:
        licence = client.get(f"/{page}/LICENSE")
        assert licence.status_code == 200 and len(licence.body) > 500
        assert licence.headers["Content-Type"] == "text/plain; charset=utf-8"


def test_missing_build_answers_503_naming_make_assets_and_the_api_keeps_working(api, monkeypatch, tmp_path):
    monkeypatch.setattr(docs, "STATIC_DIR", str(tmp_path))
    docs.reset()
    try:
        for path in ("/swagger/", "/redoc/", "/openapi.json", "/api/schema/", "/swagger/swagger-ui.css"):
            response = api.get(path)
            assert response.status_code == 503, path
            assert response.data["Code"] == "DocumentationNotBuilt"
            assert "make assets" in response.data["Message"]
            assert response.headers["Retry-After"]
        assert api.get("/movies/").status_code == 200
    finally:
        monkeypatch.undo()
        docs.reset()
