"""The one place where errors become HTTP: every body is {"error": {code, message, details}}."""

from __future__ import annotations

from typing import Any

import psycopg
import psycopg_pool
import sqlalchemy.exc
import structlog
from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.auth.errors import LOGIN_FORM_HINT, MESSAGES, explain_unauthorized, is_login
from core.errors import InferraError

# Connection-level failures: the database is down or restarting, not a bug of ours.
DATABASE_UNAVAILABLE: tuple[type[Exception], ...] = (
    sqlalchemy.exc.OperationalError,
    sqlalchemy.exc.InterfaceError,
    sqlalchemy.exc.TimeoutError,
    psycopg.OperationalError,
    psycopg.InterfaceError,
    psycopg_pool.PoolTimeout,
    ConnectionError,
)

log = structlog.get_logger(__name__)

_STATUS_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "rate_limited",
}


def error_response(
    status_code: int,
    code: str,
    message: str,
    details: Any = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body = {"error": {"code": code, "message": message, "details": details}}
    return JSONResponse(jsonable_encoder(body), status_code=status_code, headers=headers)


async def _inferra_error(_: Request, exc: InferraError) -> JSONResponse:
    return error_response(exc.status_code, exc.code, exc.message, exc.details, exc.headers)


async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    fields = [
        {"loc": list(err.get("loc", ())), "message": err.get("msg", ""), "type": err.get("type")}
        for err in exc.errors()
    ]
    message = LOGIN_FORM_HINT if is_login(request) else "The request is not valid"
    return error_response(422, "validation_error", message, fields)


async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    """HTTPExceptions come from Starlette (404 route, 405) and fastapi-users (codes as detail)."""
    code = _STATUS_CODES.get(exc.status_code, "http_error")
    message, details = str(exc.detail), None
    if exc.status_code == 401 and exc.detail == "Unauthorized":  # fastapi-users' bare refusal
        why = explain_unauthorized(request)
        return error_response(401, code, why.message, {"reason": why.reason}, why.headers())
    if isinstance(exc.detail, str) and exc.detail.isupper():
        code = exc.detail.lower()
        message = MESSAGES.get(exc.detail, exc.detail.replace("_", " ").capitalize())
    elif isinstance(exc.detail, dict):
        code = str(exc.detail.get("code", code)).lower()
        message = str(exc.detail.get("reason", message))
        details = exc.detail
    return error_response(exc.status_code, code, message, details, getattr(exc, "headers", None))


DATABASE_RETRY_SECONDS = 5


async def _database_unavailable(request: Request, exc: Exception) -> JSONResponse:
    """The database is away (restarting, unreachable): a 503 the client may retry, not a 500."""
    log.warning("database_unavailable", path=request.url.path, error=str(exc)[:300])
    return error_response(
        503,
        "database_unavailable",
        "The database is unavailable; retry shortly",
        headers={"Retry-After": str(DATABASE_RETRY_SECONDS)},
    )


async def _unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    # Logged with the traceback for us; the client gets no internals.
    log.exception("unhandled_error", path=request.url.path, error_type=type(exc).__name__)
    return error_response(500, "internal_error", "Internal server error")


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(InferraError, _inferra_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    for unavailable in DATABASE_UNAVAILABLE:
        app.add_exception_handler(unavailable, _database_unavailable)
    app.add_exception_handler(Exception, _unexpected_error)
