"""schemathesis against the live app (`chalice local` + the serialised local DynamoDB endpoint).

Every operation of the document the app serves (/openapi.json) is exercised with generated requests,
valid and invalid, the protected ones with a real bearer token from `POST /login/` (supplied through
schemathesis' auth hook). Every response must be a non-5xx whose status is documented for its operation, with a
documented Content-Type, the documented required headers, and a body matching the documented schema.

schemathesis' own engine runs it (as its CLI does): its pytest plugin generates examples at
collection time, before the live stack (and so a token) exists, and its fixture-based loader does not
run under pytest 9.2. Bounded and repeatable: a fixed seed, the examples and coverage phases plus up
to EXAMPLES_PER_OPERATION generated cases per operation in the fuzzing phase, no stateful phase.
"""
import pytest
import requests
import schemathesis
from schemathesis.config import SchemathesisConfig
from schemathesis.engine import Status, events, from_schema

EXAMPLES_PER_OPERATION = 25
SEED = 20261128
CHECKS = ["not_a_server_error", "status_code_conformance", "content_type_conformance",
          "response_headers_conformance", "response_schema_conformance"]
# Show ids below this are the demo's (1-10) or made by admins; other test modules share the live
# stack, so bookings generated for them go to a show of this module's own instead.
FOREIGN_SHOWS = range(1, 900_000)


def _config(base_url):
    return SchemathesisConfig.from_dict({
        "seed": SEED,
        "base-url": base_url,
        "request-timeout": 15,
        # `chalice local` (http.server) writes headers and body separately; on a kept-alive
        # connection Nagle's algorithm and delayed ACKs then cost 40 ms a request. One per connection.
        "headers": {"Connection": "close"},
        "generation": {"mode": "all", "max-examples": EXAMPLES_PER_OPERATION},
        # `chalice local` (Python's http.server) answers methods it does not implement, like TRACE,
        # with 501 before the app sees them; API Gateway answers 403. Probe the ones it implements.
        "phases": {"stateful": {"enabled": False},
                   "coverage": {"unexpected-methods": ["PUT", "PATCH", "DELETE"]}},
        "checks": {"enabled": False, **{name: {"enabled": True} for name in CHECKS}},
    })


def _access_token(base_url, username, password):
    credentials = {"username": username, "password": password}
    signup = requests.post(f"{base_url}/signup/", json=credentials, timeout=10)
    assert signup.status_code in (201, 409), signup.text
    login = requests.post(f"{base_url}/login/", json=credentials, timeout=10)
    assert login.status_code == 200, login.text
    return login.json()["access"]


@pytest.fixture(scope="module")
def schema(live_stack):
    own_show = live_stack.add_show(movie_id=2, total_seats=300)
    token = _access_token(live_stack.base_url, "schemathesis-user", "not-so-secret")
    # The document as the app serves it (test_openapi.py proves it is openapi.yaml). Not `from_url`:
    # that leaves out the operation the document was loaded from.
    served = requests.get(f"{live_stack.base_url}/openapi.json", timeout=10)
    assert served.status_code == 200, served.text
    schema = schemathesis.openapi.from_dict(served.json(), config=_config(live_stack.base_url))

    @schema.auth.auth(refresh_interval=None, retry_on=[])
    class BearerToken:
        """The same user's access token on every request (its 15 minutes outlive this test)."""

        def get(self, case, context):
            return token

        def set(self, case, data, context):
            case.headers = {**(case.headers or {}), "Authorization": f"Bearer {data}"}

    # A call-time hook, since the examples and coverage phases do not run generation hooks.
    # schemathesis only dispatches `before_call` globally: registered for this module only.
    @schemathesis.hook
    def before_call(context, case, kwargs):
        if case.operation.path == "/shows/{show_id}/book/" and case.path_parameters:
            show_id = case.path_parameters.get("show_id")
            if isinstance(show_id, str) and show_id.isascii() and show_id.isdigit():
                show_id = int(show_id)
            if isinstance(show_id, int) and not isinstance(show_id, bool) and show_id in FOREIGN_SHOWS:
                case.path_parameters = {**case.path_parameters, "show_id": own_show}

    yield schema
    schemathesis.hooks.unregister(before_call)


def test_every_operation_answers_as_documented(schema):
    operations = {op.ok().label for op in schema.get_all_operations()}
    documented = {f"{method.upper()} {path}" for path, item in schema.raw_schema["paths"].items()
                  for method in item if method in ("get", "put", "post", "delete", "patch")}
    assert operations == documented
    failures, errors, exercised, requests_sent = [], [], set(), 0
    for event in from_schema(schema).execute():
        if isinstance(event, events.NonFatalError):
            errors.append(f"{event.label}: {event.info.format()}")
        elif isinstance(event, events.FatalError):
            errors.append(f"schemathesis stopped: {event.exception!r}")
        recorder = getattr(event, "recorder", None)
        if not isinstance(event, events.ScenarioFinished) or recorder is None:
            continue
        if recorder.interactions:
            exercised.add(event.label)
        requests_sent += len(recorder.interactions)
        for checks in recorder.checks.values():
            for check in checks:
                if check.status == Status.FAILURE and check.failure_info is not None:
                    failures.append(_describe(event.label, check))
    unique = sorted(set(failures))
    assert not errors, "\n".join(errors)
    assert not unique, f"{len(unique)} contract violations:\n\n" + "\n\n".join(unique)
    assert exercised == operations, f"never exercised: {sorted(operations - exercised)}"
    print(f"schemathesis: {requests_sent} requests over {len(operations)} operations, no violations")


def _describe(label, check):
    failure = check.failure_info.failure
    return (f"{label} — {check.name}: {failure.title}\n  {failure.message}\n"
            f"  reproduce: {check.failure_info.code_sample}")
