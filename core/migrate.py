"""Run Alembic programmatically (the CLI, the server's startup and the tests share this)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.ext.asyncio import AsyncConnection

from core.db import DatabaseUrls

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def alembic_config(urls: DatabaseUrls) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    # ConfigParser treats % as interpolation; URLs may contain percent-escapes.
    config.set_main_option("sqlalchemy.url", urls.sqlalchemy.replace("%", "%%"))
    return config


def upgrade(urls: DatabaseUrls, revision: str = "head") -> None:
    command.upgrade(alembic_config(urls), revision)


def downgrade(urls: DatabaseUrls, revision: str = "-1") -> None:
    command.downgrade(alembic_config(urls), revision)


def head_revision() -> str | None:
    script = ScriptDirectory(str(MIGRATIONS_DIR))
    return script.get_current_head()


async def current_revision(connection: AsyncConnection) -> str | None:
    return await connection.run_sync(
        lambda sync_conn: MigrationContext.configure(sync_conn).get_current_revision()
    )
