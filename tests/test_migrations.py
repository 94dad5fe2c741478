"""Migrations upgrade an empty database to head and downgrade one step, on a database of its own."""

from __future__ import annotations

import psycopg
import pytest

from core import migrate
from core.db import DatabaseUrls


@pytest.fixture
def empty_database(database_urls: DatabaseUrls):
    name = "migration_check"
    with psycopg.connect(database_urls.libpq, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name}")
        conn.execute(f"CREATE DATABASE {name}")
    yield DatabaseUrls.from_any(database_urls.libpq.replace("/postgres?", f"/{name}?"))
    with psycopg.connect(database_urls.libpq, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def _tables(urls: DatabaseUrls) -> set[str]:
    with psycopg.connect(urls.libpq) as conn:
        rows = conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
        ).fetchall()
    return {r[0] for r in rows}


def _revision(urls: DatabaseUrls) -> str | None:
    with psycopg.connect(urls.libpq) as conn:
        row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    return row[0] if row else None


def test_upgrade_from_empty_then_downgrade_one_step(empty_database: DatabaseUrls) -> None:
    assert _tables(empty_database) == set()
    migrate.upgrade(empty_database)
    assert {"users", "rate_limit_hits", "alembic_version"} <= _tables(empty_database)
    head = migrate.head_revision()
    assert _revision(empty_database) == head

    migrate.downgrade(empty_database, "-1")
    assert _revision(empty_database) != head
    migrate.upgrade(empty_database)  # and back up again: downgrade left nothing behind
    assert _revision(empty_database) == head


def test_full_downgrade_to_base_leaves_no_tables(empty_database: DatabaseUrls) -> None:
    migrate.upgrade(empty_database)
    migrate.downgrade(empty_database, "base")
    assert _tables(empty_database) == {"alembic_version"}
