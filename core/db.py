"""Database location (embedded or DATABASE_URL), async engine and session factory."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

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
    server = start_embedded_postgres(settings.embedded_pg_dir)
    try:
        yield Database(DatabaseUrls.from_any(server.get_uri()), server)
    finally:
        stop_embedded_postgres(server)


@contextmanager
def database_location(settings: Settings) -> Iterator[DatabaseUrls]:
    """Only the URLs (migrations and other one-shot commands)."""
    with open_database(settings) as database:
        yield database.urls


def create_engine(urls: DatabaseUrls, **kwargs: Any) -> AsyncEngine:
    kwargs.setdefault("pool_pre_ping", True)
    # While the database is away a request fails fast (503), never hangs on the pool.
    kwargs.setdefault("pool_timeout", 5)
    kwargs.setdefault("connect_args", {"connect_timeout": 5})
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 10)
    return create_async_engine(urls.sqlalchemy, **kwargs)


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)
