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


@contextmanager
def database_location(settings: Settings) -> Iterator[DatabaseUrls]:
    """Yield the database URLs; starts the embedded server (and detaches at the end) if needed."""
    if settings.database_url:
        yield DatabaseUrls.from_any(settings.database_url)
        return
    server = start_embedded_postgres(settings.embedded_pg_dir)
    try:
        yield DatabaseUrls.from_any(server.get_uri())
    finally:
        stop_embedded_postgres(server)


def create_engine(urls: DatabaseUrls, **kwargs: Any) -> AsyncEngine:
    kwargs.setdefault("pool_pre_ping", True)
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 10)
    return create_async_engine(urls.sqlalchemy, **kwargs)


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)
