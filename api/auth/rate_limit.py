"""Login throttling per client IP and per email, counted in Postgres (shared by all processes).

Hand-written instead of slowapi: slowapi keeps counters in process memory unless given Redis,
and we already have Postgres.
"""

from __future__ import annotations

from fastapi import Request

from core.errors import RateLimited
from core.repositories.rate_limits import RateLimitRepository
from core.settings import Settings

LOGIN_ROUTE_NAME = "auth:jwt.login"


async def enforce_login_rate_limit(request: Request) -> None:
    route = request.scope.get("route")
    if getattr(route, "name", None) != LOGIN_ROUTE_NAME:
        return
    settings: Settings = request.app.state.settings
    form = await request.form()  # Starlette caches it; the login route reads the same form
    email = str(form.get("username") or "").strip().lower()[:320]
    client_ip = request.client.host if request.client else "unknown"
    limits = [(f"login:ip:{client_ip}", settings.login_rate_limit_per_ip)]
    if email:
        limits.append((f"login:email:{email}", settings.login_rate_limit_per_email))
    # Its own transaction: a failed login rolls the request session back, the count must stay.
    async with request.app.state.runtime.sessionmaker.begin() as session:
        repo = RateLimitRepository(session)
        for key, limit in limits:
            hits, retry_after = await repo.hit(key, settings.login_rate_limit_window_seconds)
            if hits > limit:
                raise RateLimited(
                    "Too many login attempts; try again later", retry_after=retry_after
                )
