"""Secrets and request logs: the JWT secret from an SSM SecureString in deployed stages (moto's SSM), never a
fallback to the development secret, and logs that never carry a token, password or hash.
"""
import json
import logging
import sys

import boto3
import jwt
import pytest

from chalicelib import keys, settings, storage
from chalicelib.errors import ConfigurationError

PARAMETER = "/movie-booking-prod/jwt-secret"
SECRET = "prod-signing-key-" + "k" * 40
REFUSAL = "refusing requests"


@pytest.fixture
def deployed(aws, monkeypatch):
    """The prod stage as the packaged function runs it: STAGE=prod, JWT_SECRET_PARAM set; SSM empty."""
    import app  # noqa: F401  imported in the test stage, as every other test module sees it
    monkeypatch.setenv("STAGE", "prod")
    monkeypatch.setenv("JWT_SECRET_PARAM", PARAMETER)
    monkeypatch.delenv("JWT_SECRET", raising=False)
    # Read now, outside any request: chalice.test.Client swaps in its stage's variables during one.
    settings.reset()
    settings.get_settings()
    yield boto3.client("ssm")
    settings.reset()


def put_secret(ssm, value=SECRET, kind="SecureString"):
    ssm.put_parameter(Name=PARAMETER, Value=value, Type=kind, Overwrite=True)


def assert_refused(response):
    assert response.status_code == 503
    assert response.data["Code"] == "ServiceMisconfigured"
    assert response.data["request_id"] == response.headers["X-Request-Id"]
    assert int(response.headers["Retry-After"]) > 0


# --- the secret in deployed stages -----------------------------------------------------------

def test_deployed_stage_signs_tokens_with_the_ssm_secret(deployed, api):
    put_secret(deployed)
    access = api.token_for("alice")
    claims = jwt.decode(access, SECRET, algorithms=["HS256"], audience="movie-booking-api")
    assert claims["sub"] == "alice"
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(access, settings.DEV_JWT_SECRET, algorithms=["HS256"], audience="movie-booking-api")
    assert api.get("/my-bookings", token=access).status_code == 200


def test_secret_is_read_from_ssm_once_per_cold_start(deployed, api):
    put_secret(deployed)
    calls = []
    settings._ssm_client().meta.events.register(
        "before-parameter-build.ssm.GetParameter", lambda **kwargs: calls.append(kwargs["params"]))
    token = api.token_for("alice")
    for _ in range(3):
        api.get("/my-bookings", token=token)
        api.get("/movies")
    assert len(calls) == 1
    assert calls[0]["WithDecryption"] is True


def test_missing_parameter_name_refuses_every_request_and_ignores_jwt_secret(deployed, api, monkeypatch, caplog):
    monkeypatch.delenv("JWT_SECRET_PARAM")
    monkeypatch.setenv("JWT_SECRET", "a-long-enough-secret-in-a-plain-environment-variable")
    settings.reset()
    settings.get_settings()
    response = api.get("/movies")
    assert_refused(response)
    assert_refused(api.signup("alice", "secret"))
    assert "Item" not in storage.client().get_item(
        TableName=storage.table_name(), Key=storage.to_item(keys.user_key("alice")))
    assert REFUSAL in caplog.text and "JWT_SECRET_PARAM is not set" in caplog.text


def test_parameter_missing_from_ssm_refuses_requests_with_a_log_line_naming_it(deployed, api, caplog):
    assert_refused(api.get("/movies"))
    refusals = [r.getMessage() for r in caplog.records if REFUSAL in r.getMessage()]
    assert refusals and PARAMETER in refusals[0] and "ParameterNotFound" in refusals[0]
    assert all(r.levelno == logging.ERROR for r in caplog.records if REFUSAL in r.getMessage())


def test_plain_string_parameter_is_refused(deployed, api, caplog):
    put_secret(deployed, kind="String")
    assert_refused(api.get("/movies"))
    assert "not a SecureString" in caplog.text


@pytest.mark.parametrize("value", ["too-short", settings.DEV_JWT_SECRET])
def test_short_or_development_secret_in_ssm_is_refused(deployed, api, value, caplog):
    put_secret(deployed, value=value)
    assert_refused(api.get("/movies"))
    assert REFUSAL in caplog.text
    assert value not in caplog.text


def test_a_misconfigured_instance_asks_ssm_and_logs_at_most_once_per_retry_period(deployed, api, caplog):
    calls = []
    settings._ssm_client().meta.events.register("before-call.ssm.GetParameter", lambda **kw: calls.append(1))
    for _ in range(5):
        assert_refused(api.get("/movies"))
    assert len(calls) == 1
    assert len([r for r in caplog.records if REFUSAL in r.getMessage()]) == 1


def test_service_recovers_without_redeploy_once_the_secret_is_stored(deployed, api, monkeypatch):
    monkeypatch.setattr(settings, "SECRET_RETRY_SECONDS", 0)
    assert_refused(api.get("/movies"))
    put_secret(deployed)
    assert api.get("/movies").status_code == 200


def test_deployed_stage_never_falls_back_to_the_development_secret(aws, monkeypatch):
    monkeypatch.setenv("STAGE", "dev")
    monkeypatch.delenv("JWT_SECRET_PARAM", raising=False)
    settings.reset()
    with pytest.raises(ConfigurationError):
        settings.jwt_secret()
    settings.reset()


def test_local_stage_uses_jwt_secret_or_the_development_default(monkeypatch):
    monkeypatch.setenv("STAGE", "local")
    monkeypatch.delenv("JWT_SECRET_PARAM", raising=False)
    monkeypatch.setenv("JWT_SECRET", "from-the-environment")
    settings.reset()
    assert settings.jwt_secret() == "from-the-environment"
    monkeypatch.delenv("JWT_SECRET")
    settings.reset()
    assert settings.jwt_secret() == settings.DEV_JWT_SECRET
    settings.reset()


# --- request logs ----------------------------------------------------------------------------

def request_lines(caplog):
    return [json.loads(r.getMessage()) for r in caplog.records if r.name == settings.REQUEST_LOGGER]


def test_each_request_logs_one_json_line_with_method_route_status_latency_request_id_user(api, demo, caplog):
    caplog.set_level(logging.INFO, logger=settings.REQUEST_LOGGER)
    token = api.token_for("alice")
    caplog.clear()
    response = api.post("/shows/1/book/", {"seat_number": 3}, token=token)
    (line,) = request_lines(caplog)
    assert line["method"] == "POST"
    assert line["route"] == "/shows/{show_id}/book"
    assert line["status"] == 201
    assert isinstance(line["latency_ms"], float)
    assert line["request_id"] == response.headers["X-Request-Id"]
    assert line["user"] == "alice"


def test_error_bodies_carry_the_request_id_that_is_logged(api, demo, caplog):
    caplog.set_level(logging.INFO, logger=settings.REQUEST_LOGGER)
    responses = [api.get("/movies/999/shows"), api.post("/shows/1/book", {"seat_number": 1}),
                 api.post("/login", raw="{not json"), api.post("/movies", {"title": "x"})]
    lines = request_lines(caplog)
    assert [r.status_code for r in responses] == [404, 401, 400, 401]
    for response, line in zip(responses, lines):
        assert response.data["request_id"] == response.headers["X-Request-Id"] == line["request_id"]
        assert line["status"] == response.status_code


def test_logs_never_contain_a_token_password_hash_or_the_secret(deployed, api, caplog):
    """Every kind of request that handles a credential, at DEBUG for the app's own loggers."""
    from chalicelib import auth

    put_secret(deployed)
    caplog.set_level(logging.INFO)
    for name in ("movie_booking", "chalicelib"):
        caplog.set_level(logging.DEBUG, logger=name)
    passwords = ["correct-horse-battery", "wrong-password-123", "admin-password-9"]
    api.signup("alice", passwords[0])
    api.login("alice", passwords[1])
    tokens = api.login("alice", passwords[0]).data
    rotated = api.post("/token/refresh", {"refresh": tokens["refresh"]}).data
    api.post("/token/refresh", {"refresh": tokens["refresh"]})  # a second use of the same token (within the grace window: the same pair again)
    api.get("/my-bookings", token=tokens["access"] + "x")  # forged
    api.get("/my-bookings", token=rotated["access"])
    api.post("/logout", {"refresh": rotated["refresh"]}, token=rotated["access"])
    auth.create_user("boss", passwords[2], role="admin")
    admin_token = api.login("boss", passwords[2]).data["access"]
    api.post("/movies", {"title": "Dune", "duration_minutes": 155}, token=admin_token)

    hashes = [storage.from_item(storage.client().get_item(
        TableName=storage.table_name(), Key=storage.to_item(keys.user_key(user)))["Item"])["password_hash"]
        for user in ("alice", "boss")]
    all_tokens = [tokens["access"], tokens["refresh"], rotated["access"], rotated["refresh"], admin_token]
    forbidden = passwords + hashes + all_tokens + [t.rsplit(".", 1)[1] for t in all_tokens] + [SECRET]
    logged = caplog.text + "\n".join(str(r.args) for r in caplog.records)
    assert request_lines(caplog), "the request log was captured"
    for secret in forbidden:
        assert secret not in logged


@pytest.fixture
def restore_loggers():
    names = settings.APP_LOGGERS + (settings.REQUEST_LOGGER,)
    saved = {n: (logging.getLogger(n).level, logging.getLogger(n).propagate, list(logging.getLogger(n).handlers))
             for n in names}
    yield
    for name, (level, propagate, handlers) in saved.items():
        logger = logging.getLogger(name)
        logger.setLevel(level)
        logger.propagate = propagate
        logger.handlers[:] = handlers


def test_deployed_stage_writes_the_request_log_as_bare_json_lines_on_stdout(
        deployed, api, capsys, restore_loggers):
    put_secret(deployed)
    settings.configure_logging()
    settings.configure_logging()  # idempotent: still one line per request
    capsys.readouterr()
    api.get("/movies/")
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1
    line = json.loads(out[0])
    assert line["status"] == 200 and line["route"] == "/movies" and line["method"] == "GET"


def test_deployed_stage_logs_a_refusal_as_a_json_line_too(deployed, api, capsys, restore_loggers):
    settings.configure_logging()
    capsys.readouterr()
    api.get("/movies/")
    lines = [json.loads(line) for line in capsys.readouterr().out.strip().splitlines()]
    refusal, request = lines
    assert refusal["level"] == "ERROR" and refusal["message"].startswith(REFUSAL)
    assert request["status"] == 503


def test_local_stages_leave_logging_configuration_alone(restore_loggers):
    settings.reset()
    settings.configure_logging()
    for name in settings.APP_LOGGERS:
        assert not logging.getLogger(name).handlers
        assert logging.getLogger(name).propagate is True


def test_deployed_stage_logs_an_unhandled_error_as_one_json_line():
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        record = logging.LogRecord(settings.REQUEST_LOGGER, logging.ERROR, __file__, 1, "unhandled error", None,
                                   sys.exc_info())
    line = settings.JSONLineFormatter().format(record)
    assert "\n" not in line
    entry = json.loads(line)
    assert entry["level"] == "ERROR" and entry["message"] == "unhandled error" and "boom" in entry["exception"]


def test_a_domain_log_line_carries_the_request_id_route_and_user_of_its_request(
        deployed, demo, api, capsys, restore_loggers):
    """Not only the access line: a warning logged deep in chalicelib.bookings names its request too."""
    put_secret(deployed)
    settings.configure_logging()
    token = api.token_for("alice")
    booking = api.post("/shows/1/book/", {"seat_number": 4}, token=token).data
    storage.client().delete_item(TableName=storage.table_name(), Key=storage.to_item(keys.seat_key(1, 4)))
    capsys.readouterr()
    response = api.post(f"/bookings/{booking['id']}/cancel/", token=token)
    assert response.status_code == 200
    lines = [json.loads(line) for line in capsys.readouterr().out.strip().splitlines()]
    (warning,) = [line for line in lines if line.get("logger") == "chalicelib.bookings"]
    assert warning["level"] == "ERROR" and "seat item" in warning["message"]
    assert warning["request_id"] == response.headers["X-Request-Id"]
    assert warning["route"] == "/bookings/{booking_id}/cancel"
    assert warning["user"] == "alice"
