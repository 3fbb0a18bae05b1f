"""Runtime settings: read from the environment (the stage's variables in .chalice/config.json) once."""
import functools
import json
import logging
import os
import sys
import time
from dataclasses import dataclass

from chalicelib import log_context
from chalicelib.errors import ConfigurationError

log = logging.getLogger(__name__)

# Stages that run on a developer's machine or in tests; only these may use the development secret.
LOCAL_STAGES = frozenset({"local", "test"})
DEV_JWT_SECRET = "local-development-secret-not-for-deployed-stages"
MIN_SECRET_LENGTH = 32
SECRET_RETRY_SECONDS = 10  # a misconfigured instance asks SSM again (and logs again) this often at most
_failed_at = None


def _int(name, default):
    raw = os.environ.get(name)
    return default if raw in (None, "") else int(raw)


def _float(name, default):
    raw = os.environ.get(name)
    return default if raw in (None, "") else float(raw)


@dataclass(frozen=True)
class Settings:
    stage: str
    table_name: str
    bcrypt_rounds: int
    access_token_ttl: int
    refresh_token_ttl: int
    jwt_issuer: str
    jwt_audience: str
    jwt_secret_env: str
    jwt_secret_param: str
    cors_allow_origin: str
    max_body_bytes: int
    login_max_failures: int
    login_window_seconds: int
    login_backoff_seconds: int
    login_username_max_failures: int
    login_username_max_delay_seconds: int
    login_trusted_address_seconds: int
    refresh_reuse_grace_seconds: float
    public_origin: str
    idempotency_ttl_seconds: int
    hold_seconds: float
    hold_max_extensions: int
    hold_max_seconds: float
    dynamodb_max_attempts: int
    dynamodb_connect_timeout: float
    dynamodb_read_timeout: float
    log_level: str
    # e-tickets and door check-in (issue 19)
    ticket_signing_key_param: str
    checkin_opens_minutes: int
    local_data_dir: str
    # events (issue 20): webhooks and the waitlist
    webhook_queue_url: str
    webhook_retry_schedule: str
    webhook_timeout_seconds: float
    webhook_redrive_after_seconds: float

    @property
    def is_local(self):
        return self.stage in LOCAL_STAGES

    @classmethod
    def from_environ(cls):
        env = os.environ.get
        return cls(
            stage=env("STAGE", "local"),
            table_name=env("TABLE_NAME", "movie-booking"),
            bcrypt_rounds=_int("BCRYPT_ROUNDS", 12),
            access_token_ttl=_int("ACCESS_TOKEN_TTL_SECONDS", 15 * 60),
            refresh_token_ttl=_int("REFRESH_TOKEN_TTL_SECONDS", 7 * 24 * 3600),
            jwt_issuer=env("JWT_ISSUER", "movie-booking"),
            jwt_audience=env("JWT_AUDIENCE", "movie-booking-api"),
            jwt_secret_env=env("JWT_SECRET", ""),
            jwt_secret_param=env("JWT_SECRET_PARAM", ""),
            cors_allow_origin=env("CORS_ALLOW_ORIGIN", ""),
            max_body_bytes=_int("MAX_BODY_BYTES", 16 * 1024),
            login_max_failures=_int("LOGIN_MAX_FAILURES", 10),
            login_window_seconds=_int("LOGIN_WINDOW_SECONDS", 15 * 60),
            login_backoff_seconds=_int("LOGIN_BACKOFF_SECONDS", 15 * 60),
            login_username_max_failures=_int("LOGIN_USERNAME_MAX_FAILURES", 100),
            login_username_max_delay_seconds=_int("LOGIN_USERNAME_MAX_DELAY_SECONDS", 30),
            login_trusted_address_seconds=_int("LOGIN_TRUSTED_ADDRESS_SECONDS", 30 * 24 * 3600),
            refresh_reuse_grace_seconds=float(env("REFRESH_REUSE_GRACE_SECONDS") or 5),
            public_origin=env("PUBLIC_ORIGIN", "").rstrip("/"),
            idempotency_ttl_seconds=_int("IDEMPOTENCY_TTL_SECONDS", 24 * 3600),
            hold_seconds=_float("HOLD_SECONDS", 600),
            hold_max_extensions=_int("HOLD_MAX_EXTENSIONS", 2),
            hold_max_seconds=_float("HOLD_MAX_SECONDS", 1800),
            dynamodb_max_attempts=_int("DYNAMODB_MAX_ATTEMPTS", 3),
            dynamodb_connect_timeout=float(env("DYNAMODB_CONNECT_TIMEOUT", "1")),
            dynamodb_read_timeout=float(env("DYNAMODB_READ_TIMEOUT", "2")),
            log_level=env("LOG_LEVEL", "INFO").upper(),
            ticket_signing_key_param=env("TICKET_SIGNING_KEY_PARAM", ""),
            checkin_opens_minutes=_int("CHECKIN_OPENS_MINUTES", 60),
            local_data_dir=env("LOCAL_DATA_DIR", "") or ".local-data",
            webhook_queue_url=env("WEBHOOK_QUEUE_URL", ""),
            webhook_retry_schedule=env("WEBHOOK_RETRY_SCHEDULE", ""),
            webhook_timeout_seconds=_float("WEBHOOK_TIMEOUT_SECONDS", 10),
            webhook_redrive_after_seconds=_float("WEBHOOK_REDRIVE_AFTER_SECONDS", 900),
        )


@functools.lru_cache(maxsize=1)
def get_settings():
    return Settings.from_environ()


@functools.lru_cache(maxsize=1)
def jwt_secret():
    """The HS256 signing key, resolved once per cold start (a failure is retried after SECRET_RETRY_SECONDS).

    Deployed stages read only the SSM SecureString named by JWT_SECRET_PARAM; local stages may use
    JWT_SECRET or the development default. A deployed stage never falls back to either: without a
    usable secret it raises ConfigurationError (503) after one clear log line.
    """
    settings = get_settings()
    if _failed_at is not None and time.monotonic() - _failed_at < SECRET_RETRY_SECONDS:
        raise ConfigurationError("The service is not configured; try again later.", retry_after=60)
    if settings.is_local:
        if settings.jwt_secret_param:
            return _read_ssm_secret(settings.jwt_secret_param)
        return settings.jwt_secret_env or DEV_JWT_SECRET
    if not settings.jwt_secret_param:
        _refuse("JWT_SECRET_PARAM is not set (deployed stages read the secret from SSM only; "
                "JWT_SECRET and the development default are ignored)")
    secret = _read_ssm_secret(settings.jwt_secret_param)
    if len(secret) < MIN_SECRET_LENGTH or secret == DEV_JWT_SECRET:
        _refuse(f"the value of SSM parameter {settings.jwt_secret_param!r} is shorter than "
                f"{MIN_SECRET_LENGTH} characters or is the development secret")
    return secret


def require_secret():
    """For deployed stages, called before every request: ConfigurationError unless the secret is usable."""
    if not get_settings().is_local:
        jwt_secret()


def _refuse(reason):
    global _failed_at
    _failed_at = time.monotonic()  # refuse without asking SSM (or logging) again for SECRET_RETRY_SECONDS
    log.error("refusing requests: stage %r has no usable JWT secret: %s", get_settings().stage, reason)
    raise ConfigurationError("The service is not configured; try again later.", retry_after=60)


@functools.lru_cache(maxsize=1)
def _ssm_client():
    import boto3  # deferred: only deployed stages pay for the SSM client
    from botocore.config import Config

    return boto3.client("ssm", config=Config(
        retries={"mode": "standard", "max_attempts": 3}, connect_timeout=1, read_timeout=2))


def _read_ssm_secret(name):
    """The decrypted value of a SecureString parameter; ConfigurationError for anything else."""
    try:
        parameter = _ssm_client().get_parameter(Name=name, WithDecryption=True)["Parameter"]
    except Exception as exc:  # missing parameter, no permission, KMS or network failure: all deployment problems
        code = (getattr(exc, "response", None) or {}).get("Error", {}).get("Code") or type(exc).__name__
        _refuse(f"cannot read SSM parameter {name!r} ({code})")
    if parameter.get("Type") != "SecureString":
        _refuse(f"SSM parameter {name!r} is a {parameter.get('Type')}, not a SecureString")
    return parameter["Value"]


def read_secure_string(name):
    """The decrypted value of the SSM SecureString ``name`` (for secrets other than the JWT key, such
    as the ticket signing keys); ConfigurationError (503) after one log line if it cannot be read or
    is not a SecureString. Unlike the JWT secret, a failure here refuses only the requests needing it."""
    try:
        parameter = _ssm_client().get_parameter(Name=name, WithDecryption=True)["Parameter"]
    except Exception as exc:  # missing parameter, no permission, KMS or network failure
        code = (getattr(exc, "response", None) or {}).get("Error", {}).get("Code") or type(exc).__name__
        log.error("cannot read SSM parameter %r (%s)", name, code)
        raise ConfigurationError("The service is not configured; try again later.", retry_after=60) from None
    if parameter.get("Type") != "SecureString":
        log.error("SSM parameter %r is a %s, not a SecureString", name, parameter.get("Type"))
        raise ConfigurationError("The service is not configured; try again later.", retry_after=60)
    return parameter["Value"]


REQUEST_LOGGER = "movie_booking.http"
APP_LOGGERS = ("movie_booking", "chalicelib")


class JSONLineFormatter(logging.Formatter):
    """Request lines (already JSON) as they are; anything else, a traceback included, as one JSON line
    carrying the request context (request id, route, user) that ContextFilter put on the record."""

    def format(self, record):
        message = record.getMessage()
        if record.levelno == logging.INFO and message.startswith("{") and not record.exc_info:
            return message
        entry = {"level": record.levelname, "logger": record.name, "message": message}
        for name in log_context.FIELDS:
            if getattr(record, name, None) is not None:
                entry[name] = getattr(record, name)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, separators=(",", ":"))


def configure_logging():
    """Deployed stages: the app's logs as single JSON lines on stdout (one CloudWatch event each, which
    Logs Insights parses into fields), each with the request context, at LOG_LEVEL. Without this
    Lambda's root logger (WARNING) would drop the INFO request lines. Local stages are left alone."""
    settings = get_settings()
    if settings.is_local:
        return
    level = getattr(logging, settings.log_level, logging.INFO)
    for name in APP_LOGGERS:
        logger = logging.getLogger(name)
        logger.setLevel(level)
        if not any(getattr(h, "_json_lines", False) for h in logger.handlers):
            handler = logging.StreamHandler(sys.stdout)
            handler.setFormatter(JSONLineFormatter())
            handler.addFilter(log_context.ContextFilter())  # a handler filter sees child loggers' records too
            handler._json_lines = True
            logger.addHandler(handler)
        logger.propagate = False  # not a second, prefixed copy through Lambda's root handler


def reset():
    """Forget cached settings, secret and SSM client (tests change the environment between cases)."""
    global _failed_at
    _failed_at = None
    get_settings.cache_clear()
    jwt_secret.cache_clear()
    _ssm_client.cache_clear()
