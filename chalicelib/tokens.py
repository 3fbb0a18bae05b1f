"""JSON Web Tokens: issuing and verifying access/refresh pairs (HS256 pinned, typed, expiring)."""
import base64
import hashlib
import hmac
import secrets

import jwt

from chalicelib import clock
from chalicelib.errors import InvalidToken
from chalicelib.settings import get_settings, jwt_secret

ALGORITHM = "HS256"
ACCESS = "access"
REFRESH = "refresh"
REQUIRED_CLAIMS = ["exp", "iat", "sub", "typ", "jti", "iss", "aud"]
CLOCK_SKEW_SECONDS = 30


def issue_pair(subject, role, family=None, generation=0):
    """A new access and refresh token of a new session (``family``), at the user's session
    ``generation`` (the refresh token is refused once log-out-everywhere moves past it)."""
    now = clock.now_int()
    return _pair(subject, role, family or secrets.token_urlsafe(16), generation, now,
                 secrets.token_urlsafe(16), secrets.token_urlsafe(16))


def rotated_pair(claims, role, issued_at):
    """The pair that replaces the refresh token with ``claims``, issued at ``issued_at``.

    It is a function of its arguments alone (token ids derived from the old token's id with the
    signing key), so a refresh that repeats a rotation within the grace window hands out exactly
    the pair the first one did.
    """
    return _pair(claims["sub"], role, claims["fam"], claims["gen"], issued_at,
                 _derived_id("access", claims["jti"]), _derived_id("refresh", claims["jti"]))


def _derived_id(purpose, jti):
    digest = hmac.new(jwt_secret().encode("utf-8"), f"{purpose}:{jti}".encode("utf-8"), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest[:16]).rstrip(b"=").decode("ascii")


def _pair(subject, role, family, generation, issued_at, access_id, refresh_id):
    settings = get_settings()
    return {
        "access": _encode(subject, ACCESS, issued_at, settings.access_token_ttl, access_id, role=role),
        "refresh": _encode(subject, REFRESH, issued_at, settings.refresh_token_ttl, refresh_id,
                           role=role, fam=family, gen=generation),
    }


def _encode(subject, token_type, issued_at, ttl, token_id, **extra):
    settings = get_settings()
    claims = {
        "sub": subject,
        "typ": token_type,
        "iat": issued_at,
        "exp": issued_at + ttl,
        "jti": token_id,
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
        **extra,
    }
    return jwt.encode(claims, jwt_secret(), algorithm=ALGORITHM)


def verify(token, expected_type):
    """Claims of a valid token of ``expected_type``; InvalidToken otherwise (never a bare PyJWT error)."""
    settings = get_settings()
    try:
        claims = jwt.decode(
            token,
            jwt_secret(),
            algorithms=[ALGORITHM],
            audience=settings.jwt_audience,
            issuer=settings.jwt_issuer,
            leeway=CLOCK_SKEW_SECONDS,
            options={"require": REQUIRED_CLAIMS},
        )
    except jwt.ExpiredSignatureError:
        raise InvalidToken("The token has expired.")
    except jwt.PyJWTError:
        raise InvalidToken("The token is invalid.")
    if claims.get("typ") != expected_type:
        raise InvalidToken(f"Expected a token of type '{expected_type}'.")
    if not isinstance(claims.get("sub"), str) or not isinstance(claims.get("iat"), int):
        raise InvalidToken("The token is invalid.")
    if claims["iat"] > clock.now() + CLOCK_SKEW_SECONDS:
        raise InvalidToken("The token was issued in the future.")
    if expected_type == REFRESH and not (isinstance(claims.get("fam"), str) and _is_generation(claims.get("gen"))):
        raise InvalidToken("The token is invalid.")  # refresh tokens from before generations too: log in again
    return claims


def _is_generation(value):
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0
