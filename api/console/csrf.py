"""CSRF protection of the console: asgi-csrf's double-submit token (a signed `csrftoken` cookie
that every unsafe request repeats in its form's first field or in the `x-csrftoken` header,
which htmx sends on every request of a page). Only /console is checked: the API accepts bearer
tokens, never the session cookie, so a forged cross-site request could not authenticate there."""

from __future__ import annotations

import hashlib
from typing import Any

from asgi_csrf import asgi_csrf
from fastapi import FastAPI, Request

from core.settings import Settings

CONSOLE_PREFIX = "/console"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})


def csrf_token(request: Request) -> str:
    """The token for this browser (the middleware sets its cookie on the response)."""
    return request.scope["csrftoken"]()


def _not_console(scope: dict[str, Any]) -> bool:
    return not scope["path"].startswith(CONSOLE_PREFIX)


async def _refused(scope: dict[str, Any], send: Any, reason: Any) -> None:
    body = (
        b"<!doctype html><title>Refused</title><h1>403: form expired or forged</h1>"
        b"<p>Reload the page and submit the form again.</p>"
    )
    headers = [(b"content-type", b"text/html; charset=utf-8")]
    await send({"type": "http.response.start", "status": 403, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class MultipartNeedsHeader:
    """Multipart posts must carry the token in the header (the console's upload form sends it
    through htmx). asgi-csrf 0.11 would look for it in the body with a python-multipart API that
    no longer exists (a TypeError, so a 500); refused here first with a clear 403."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if (
            scope["type"] == "http"
            and scope["method"] not in SAFE_METHODS
            and scope["path"].startswith(CONSOLE_PREFIX)
        ):
            headers = dict(scope.get("headers") or [])
            multipart = headers.get(b"content-type", b"").startswith(b"multipart/")
            if multipart and not headers.get(b"x-csrftoken"):
                await _refused(scope, send, None)
                return
        await self.app(scope, receive, send)


class ConsoleOnly:
    """asgi-csrf for /console, the app untouched for every other path. asgi-csrf's own
    `skip_if_scope` skips the check only: it still parses the cookies, signs a fresh token (16
    random characters from the system's RNG) and wraps `send` for every API request, a
    measurable part of a request's CPU (benchmarks/README.md, issue 17)."""

    def __init__(self, app: Any, **options: Any) -> None:
        self.app = app
        self.protected = asgi_csrf(app, **options)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and not _not_console(scope):
            await self.protected(scope, receive, send)
        else:
            await self.app(scope, receive, send)


def install_csrf(app: FastAPI, settings: Settings) -> None:
    # Derived from the JWT secret: every server process of one deployment signs alike.
    secret = hashlib.sha256(b"inferra-csrf:" + settings.jwt_secret().encode()).hexdigest()
    app.add_middleware(
        ConsoleOnly,
        signing_secret=secret,
        skip_if_scope=_not_console,
        always_protect={f"{CONSOLE_PREFIX}/login", f"{CONSOLE_PREFIX}/register"},
        cookie_secure=settings.cookie_secure,
        send_csrf_failed=_refused,
    )
    app.add_middleware(MultipartNeedsHeader)  # outside asgi-csrf: runs first
