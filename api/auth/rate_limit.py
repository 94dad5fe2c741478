"""Throttles of the auth routes, counted in Postgres (shared by all processes): failed logins per
client IP and per email, registrations per client IP. Over a limit: 429 + Retry-After.

Hand-written instead of slowapi: slowapi keeps counters in process memory unless given Redis,
and we already have Postgres.

Logins count failures, not attempts: the owner of an account under attack still logs in. The
per-account limit refuses only clients that have failed themselves (their IP has other failures
in the window); a correct password from a client that has not failed always goes through. Each
attempt is counted as a failure before the password is checked and taken back when it was not
one, so a burst of concurrent guesses cannot slip past the limit before the first is counted.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime

from fastapi import Request
from fastapi_users.router.common import ErrorCode
from starlette.exceptions import HTTPException

from core.errors import RateLimited
from core.repositories.rate_limits import RateLimitRepository
from core.settings import Settings

LOGIN_ROUTE_NAME = "auth:jwt.login"


def client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


async def enforce_login_rate_limit(request: Request) -> AsyncIterator[None]:
    """A dependency with yield: it sees whether the login failed (400 bad credentials)."""
    settings: Settings = request.app.state.settings
    form = await request.form()  # Starlette caches it; the login route reads the same form
    email = str(form.get("username") or "").strip().lower()[:320]
    window = settings.login_rate_limit_window_seconds
    counted: list[tuple[str, datetime]] = []
    # Its own transaction, committed now: concurrent attempts see this one while it runs, and a
    # failed login rolls the request's session back while its count must stay.
    async with request.app.state.runtime.sessionmaker.begin() as session:
        repo = RateLimitRepository(session)
        key = f"login:failed:ip:{client_ip(request)}"
        by_ip = await repo.hit(key, window)
        if by_ip.hits > settings.login_rate_limit_per_ip:  # raising rolls the counts back
            raise RateLimited(
                "Too many failed logins from this address; try again later",
                retry_after=by_ip.retry_after,
            )
        counted.append((key, by_ip.start))
        if email:
            key = f"login:failed:email:{email}"
            by_email = await repo.hit(key, window)
            if by_email.hits > settings.login_rate_limit_per_email and by_ip.hits > 1:
                raise RateLimited(
                    "Too many failed logins for this account; try again later",
                    retry_after=by_email.retry_after,
                )
            counted.append((key, by_email.start))
    try:
        yield
    except HTTPException as exc:
        if exc.detail != ErrorCode.LOGIN_BAD_CREDENTIALS:
            await _take_back(request, counted)
        raise
    except BaseException:
        await _take_back(request, counted)
        raise
    else:
        await _take_back(request, counted)


async def _take_back(request: Request, counted: list[tuple[str, datetime]]) -> None:
    """The attempt was not a failure (a login, or a request that never checked a password)."""
    async with request.app.state.runtime.sessionmaker.begin() as session:
        repo = RateLimitRepository(session)
        for key, window_start in counted:
            await repo.unhit(key, window_start)


async def enforce_registration_rate_limit(request: Request) -> None:
    """Registrations (attempts) per client IP; each successful one costs a password hash."""
    settings: Settings = request.app.state.settings
    async with request.app.state.runtime.sessionmaker.begin() as session:
        window = await RateLimitRepository(session).hit(
            f"register:ip:{client_ip(request)}", settings.register_rate_limit_window_seconds
        )
        if window.hits > settings.register_rate_limit_per_ip:  # raising rolls the count back
            raise RateLimited(
                "Too many registrations from this address; try again later",
                retry_after=window.retry_after,
            )
