"""JSON Web Tokens: issuing and verifying access/refresh pairs (HS256 pinned, typed, expiring)."""
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


def issue_pair(subject, role, family=None):
    """A new access and refresh token; a refresh rotation keeps the token ``family``."""
    family = family or secrets.token_urlsafe(16)
    return {
        "access": _encode(subject, ACCESS, get_settings().access_token_ttl, role=role),
        "refresh": _encode(subject, REFRESH, get_settings().refresh_token_ttl, role=role, fam=family),
    }


def _encode(subject, token_type, ttl, **extra):
    settings = get_settings()
    now = clock.now_int()
    claims = {
        "sub": subject,
        "typ": token_type,
        "iat": now,
        "exp": now + ttl,
        "jti": secrets.token_urlsafe(16),
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
    if expected_type == REFRESH and not isinstance(claims.get("fam"), str):
        raise InvalidToken("The token is invalid.")
    return claims
