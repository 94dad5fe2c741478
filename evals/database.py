"""A fresh, migrated database for one eval, never the user's: the eval writes tickets, runs and
resolutions that must not mix with real data, and its scores must not depend on what is there.

- DATABASE_URL unset: an embedded Postgres in a temp dir, stopped and deleted afterwards.
- DATABASE_URL set: a new database `inferra_eval_<UTC timestamp>_<random>` on that server,
  dropped afterwards.
"""

from __future__ import annotations

import secrets
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import structlog
from psycopg import sql
from sqlalchemy.engine import make_url

from core import migrate
from core.db import DatabaseUrls
from core.embedded_pg import start_embedded_postgres, stop_embedded_postgres
from core.providers.embeddings import embedding_dimension
from core.settings import Settings

log = structlog.get_logger(__name__)
DATABASE_PREFIX = "inferra_eval_"


@contextmanager
def fresh_database(settings: Settings) -> Iterator[DatabaseUrls]:
    """Yield the URLs of an empty database migrated to head; remove it at the end."""
    location = _server_database if settings.database_url else _embedded_database
    with location(settings) as urls:
        migrate.upgrade(urls, embedding_dim=embedding_dimension(settings))
        yield urls


def eval_database_name(now: datetime | None = None) -> str:
    # The random suffix keeps two evals started in the same second (tests, CI) apart.
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%d_%H%M%S")
    return f"{DATABASE_PREFIX}{stamp}_{secrets.token_hex(3)}"


@contextmanager
def _embedded_database(settings: Settings) -> Iterator[DatabaseUrls]:
    folder = Path(tempfile.mkdtemp(prefix="inferra-eval-"))
    server = start_embedded_postgres(folder / "pg")
    try:
        yield DatabaseUrls.from_any(server.get_uri())
    finally:
        stop_embedded_postgres(server)
        shutil.rmtree(folder, ignore_errors=True)
        log.info("eval_database_removed", path=str(folder))


@contextmanager
def _server_database(settings: Settings) -> Iterator[DatabaseUrls]:
    assert settings.database_url is not None
    admin = DatabaseUrls.from_any(settings.database_url).libpq
    name = eval_database_name()
    _execute(admin, sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    log.info("eval_database_created", database=name)
    try:
        url = make_url(settings.database_url).set(database=name)
        yield DatabaseUrls.from_any(url.render_as_string(hide_password=False))
    finally:
        # FORCE: a connection left open by a failed case must not keep the database alive.
        _execute(
            admin, sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
        log.info("eval_database_dropped", database=name)


def _execute(conninfo: str, statement: sql.Composable) -> None:
    # CREATE/DROP DATABASE cannot run inside a transaction block.
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(statement)
