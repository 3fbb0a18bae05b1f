"""Runtime settings: read from the environment (the stage's variables in .chalice/config.json) once."""
import functools
import logging
import os
from dataclasses import dataclass

from chalicelib.errors import ConfigurationError

log = logging.getLogger(__name__)

# Stages that run on a developer's machine or in tests; only these may use the development secret.
LOCAL_STAGES = frozenset({"local", "test"})
DEV_JWT_SECRET = "local-development-secret-not-for-deployed-stages"
MIN_SECRET_LENGTH = 32


def _int(name, default):
    raw = os.environ.get(name)
    return default if raw in (None, "") else int(raw)


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
    idempotency_ttl_seconds: int
    dynamodb_max_attempts: int
    dynamodb_connect_timeout: float
    dynamodb_read_timeout: float

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
            idempotency_ttl_seconds=_int("IDEMPOTENCY_TTL_SECONDS", 24 * 3600),
            dynamodb_max_attempts=_int("DYNAMODB_MAX_ATTEMPTS", 3),
            dynamodb_connect_timeout=float(env("DYNAMODB_CONNECT_TIMEOUT", "1")),
            dynamodb_read_timeout=float(env("DYNAMODB_READ_TIMEOUT", "2")),
        )


@functools.lru_cache(maxsize=1)
def get_settings():
    return Settings.from_environ()


@functools.lru_cache(maxsize=1)
def jwt_secret():
    """The HS256 signing key, resolved once per cold start.

    Deployed stages read an SSM SecureString named by JWT_SECRET_PARAM; local stages may use
    JWT_SECRET or the development default. A deployed stage never falls back to the default.
    """
    settings = get_settings()
    if settings.jwt_secret_param:
        secret = _read_ssm_secret(settings.jwt_secret_param)
    elif settings.jwt_secret_env:
        secret = settings.jwt_secret_env
    elif settings.is_local:
        secret = DEV_JWT_SECRET
    else:
        secret = ""
    if not settings.is_local and len(secret) < MIN_SECRET_LENGTH:
        log.error(
            "refusing requests: stage %r has no JWT secret of at least %d characters "
            "(set JWT_SECRET_PARAM to an SSM SecureString)", settings.stage, MIN_SECRET_LENGTH)
        raise ConfigurationError("The service is not configured; try again later.", retry_after=60)
    return secret


def _read_ssm_secret(name):
    import boto3  # deferred: only deployed stages pay for the SSM client

    try:
        response = boto3.client("ssm").get_parameter(Name=name, WithDecryption=True)
    except Exception as exc:  # any failure here is a deployment problem, logged once
        log.error("refusing requests: cannot read JWT secret parameter %r: %s", name, exc)
        raise ConfigurationError("The service is not configured; try again later.", retry_after=60)
    return response["Parameter"]["Value"]


def reset():
    """Forget cached settings and secret (tests change the environment between cases)."""
    get_settings.cache_clear()
    jwt_secret.cache_clear()
