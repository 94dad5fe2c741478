"""Database location (embedded or DATABASE_URL), async engine and session factory."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import event, exc
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from core.embedded_pg import start_embedded_postgres, stop_embedded_postgres
from core.settings import Settings


@dataclass(frozen=True)
class DatabaseUrls:
    """The same database in the two spellings our libraries want."""

    sqlalchemy: str  # postgresql+psycopg://...  (SQLAlchemy, Alembic)
    libpq: str  # postgresql://...          (psycopg, LangGraph checkpointer, job queue)

    @classmethod
    def from_any(cls, url: str) -> DatabaseUrls:
        parsed = make_url(url)
        if parsed.get_backend_name() != "postgresql":
            raise ValueError(f"Inferra needs PostgreSQL, got {parsed.get_backend_name()!r}")
        if parsed.password == "":
            parsed = parsed.set(password=None)
        return cls(
            sqlalchemy=parsed.set(drivername="postgresql+psycopg").render_as_string(
                hide_password=False
            ),
            libpq=parsed.set(drivername="postgresql").render_as_string(hide_password=False),
        )


@dataclass(frozen=True)
class Database:
    urls: DatabaseUrls
    embedded: Any = None  # the pgserver handle when Inferra runs the server itself


@contextmanager
def open_database(settings: Settings) -> Iterator[Database]:
    """DATABASE_URL, or the embedded server (started or attached to, detached at the end)."""
    if settings.database_url:
        yield Database(DatabaseUrls.from_any(settings.database_url))
        return
    server = start_embedded_postgres(settings.embedded_pg_dir, settings.embedded_pg_shared_buffers)
    try:
        yield Database(DatabaseUrls.from_any(server.get_uri()), server)
    finally:
        stop_embedded_postgres(server)


@contextmanager
def database_location(settings: Settings) -> Iterator[DatabaseUrls]:
    """Only the URLs (migrations and other one-shot commands)."""
    with open_database(settings) as database:
        yield database.urls


# A pooled connection is pinged before use only when it has sat unused this long: under load a
# ping per request was a fifth of a ticket read's round trips (benchmarks/README.md, issue 17).
# A connection that broke within the last second surfaces as the request's 503, and SQLAlchemy
# then drops every pooled connection older than the failure, so the next request reconnects.
PING_AFTER_IDLE_SECONDS = 1.0
_RETURNED_AT = "inferra_returned_at"


def create_engine(urls: DatabaseUrls, *, read_only: bool = False, **kwargs: Any) -> AsyncEngine:
    """read_only: every statement is its own transaction (no BEGIN / COMMIT round trips) and
    Postgres refuses any write on these connections (`default_transaction_read_only`)."""
    connect_args: dict[str, Any] = {"connect_timeout": 5}
    if read_only:
        kwargs.setdefault("isolation_level", "AUTOCOMMIT")
        connect_args["options"] = "-c default_transaction_read_only=on"
    # While the database is away a request fails fast (503), never hangs on the pool.
    kwargs.setdefault("pool_timeout", 5)
    kwargs.setdefault("connect_args", connect_args)
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 10)
    engine = create_async_engine(urls.sqlalchemy, **kwargs)
    _ping_after_idle(engine, PING_AFTER_IDLE_SECONDS)
    return engine


def _ping_after_idle(engine: AsyncEngine, idle_seconds: float) -> None:
    """SQLAlchemy's pre-ping, only for a connection that sat in the pool `idle_seconds` or more
    (a restarted database, a closed idle connection). Raising DisconnectionError on checkout
    is the pool's documented way to get a fresh connection instead, as pre-ping does."""
    pool, dialect = engine.sync_engine.pool, engine.sync_engine.dialect

    def returned(dbapi_connection: Any, record: Any) -> None:
        record.info[_RETURNED_AT] = time.monotonic()

    def taken(dbapi_connection: Any, record: Any, proxy: Any) -> None:
        returned_at = record.info.get(_RETURNED_AT)  # none on a fresh connection
        if returned_at is None or time.monotonic() - returned_at < idle_seconds:
            return
        try:
            dialect.do_ping(dbapi_connection)
        except dialect.loaded_dbapi.Error as error:
            raise exc.InvalidatePoolError(f"pool ping failed: {error}") from error

    event.listen(pool, "checkin", returned)
    event.listen(pool, "checkout", taken)


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)
