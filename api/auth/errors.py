"""Auth failures in words a client can act on.

fastapi-users answers every rejected token with a bare 401 "Unauthorized" and every failed login
with the code LOGIN_BAD_CREDENTIALS; a person cannot tell an expired token from a missing header
or a typo from a deactivated account. These helpers name the cause (RFC 6750 §3 for bearer
tokens: `WWW-Authenticate: Bearer error="invalid_token", error_description=...`)."""

from __future__ import annotations

from dataclasses import dataclass

import jwt
from fastapi import Request
from fastapi_users.jwt import decode_jwt

from core.settings import Settings

LOGIN_PATH_SUFFIX = "/auth/login"
LOGIN_FORM_HINT = (
    "Log in with a form-encoded body (application/x-www-form-urlencoded) with the fields "
    "username (your email) and password, e.g. -d 'username=me@example.com&password=...'"
)
# fastapi-users' error codes, said the way a person at a terminal needs them.
MESSAGES = {
    "LOGIN_BAD_CREDENTIALS": (
        "Wrong email or password, or the account is deactivated; check both (the email is the "
        "username field)"
    ),
    "REGISTER_USER_ALREADY_EXISTS": "A user with this email already exists; log in instead",
}


@dataclass(frozen=True)
class Unauthorized:
    reason: str
    message: str

    def headers(self) -> dict[str, str]:
        if self.reason == "missing_token":
            return {"WWW-Authenticate": "Bearer"}
        return {
            "WWW-Authenticate": f'Bearer error="invalid_token", error_description="{self.message}"'
        }


def explain_unauthorized(request: Request) -> Unauthorized:
    """Why a request's credentials were refused, read from its Authorization header."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return Unauthorized(
            "missing_token",
            "Not logged in: send Authorization: Bearer <access_token> from POST "
            "/api/v1/auth/login",
        )
    settings: Settings = request.app.state.settings
    try:
        decode_jwt(token.strip(), settings.jwt_secret(), audience=["fastapi-users:auth"])
    except jwt.ExpiredSignatureError:
        return Unauthorized("expired_token", "The access token expired; log in again")
    except jwt.PyJWTError:
        return Unauthorized(
            "invalid_token", "The access token is not valid (damaged or from another server)"
        )
    return Unauthorized(
        "inactive_user", "The account of this token is deactivated or no longer exists"
    )


def is_login(request: Request) -> bool:
    return request.url.path.endswith(LOGIN_PATH_SUFFIX)
