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


def upgrade(
    urls: DatabaseUrls, revision: str = "head", *, embedding_dim: int | None = None
) -> None:
    """Migrate; embedding_dim fixes the vector columns' size (default: the configured provider)."""
    config = alembic_config(urls)
    if embedding_dim is not None:
        config.attributes["embedding_dim"] = embedding_dim
    command.upgrade(config, revision)


def downgrade(urls: DatabaseUrls, revision: str = "-1") -> None:
    command.downgrade(alembic_config(urls), revision)


def head_revision() -> str | None:
    script = ScriptDirectory(str(MIGRATIONS_DIR))
    return script.get_current_head()


async def current_revision(connection: AsyncConnection) -> str | None:
    return await connection.run_sync(
        lambda sync_conn: MigrationContext.configure(sync_conn).get_current_revision()
    )


async def stored_embedding_dim(connection: AsyncConnection) -> int | None:
    from sqlalchemy import text

    value = await connection.scalar(
        text("SELECT value FROM inferra_meta WHERE key = 'embedding_dim'")
    )
    return int(value) if value is not None else None
