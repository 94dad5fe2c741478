"""The console's session: a fastapi-users cookie JWT backend beside the bearer one. The API
accepts bearer tokens only (`api/auth/backend.py`), so a cookie never authenticates an API call;
console pages accept the cookie only, and every unsafe request of theirs carries a CSRF token
(`api/console/csrf.py`)."""

from __future__ import annotations

import uuid

from fastapi import Response
from fastapi_users import FastAPIUsers
from fastapi_users.authentication import AuthenticationBackend, CookieTransport, JWTStrategy

from api.auth.backend import get_jwt_strategy, get_user_manager
from core.models import User
from core.settings import Settings

SESSION_COOKIE = "inferra_session"

# Reads the cookie; the login and logout responses are written by `set_session_cookie` and
# `clear_session_cookie`, which know whether this deployment serves HTTPS (Secure flag).
cookie_transport = CookieTransport(
    cookie_name=SESSION_COOKIE, cookie_httponly=True, cookie_samesite="lax"
)
cookie_backend = AuthenticationBackend(
    name="cookie", transport=cookie_transport, get_strategy=get_jwt_strategy
)
console_users = FastAPIUsers[User, uuid.UUID](get_user_manager, [cookie_backend])
console_user_or_none = console_users.current_user(active=True, optional=True)


async def set_session_cookie(
    response: Response, strategy: JWTStrategy, user: User, settings: Settings
) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        await strategy.write_token(user),
        max_age=settings.jwt_lifetime_seconds,
        httponly=True,
        secure=settings.cookie_secure,
        samesite="lax",
    )


def clear_session_cookie(response: Response, settings: Settings) -> None:
    response.delete_cookie(
        SESSION_COOKIE, httponly=True, secure=settings.cookie_secure, samesite="lax"
    )
