"""LangGraph checkpoints in Postgres (AsyncPostgresSaver) on the application's database."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool


@asynccontextmanager
async def postgres_checkpointer(
    conninfo: str, *, max_size: int = 10
) -> AsyncIterator[AsyncPostgresSaver]:
    # The saver needs autocommit + dict rows; prepare_threshold=0 keeps it pgbouncer-safe.
    pool = AsyncConnectionPool(
        conninfo,
        min_size=1,
        max_size=max_size,
        open=False,
        kwargs={"autocommit": True, "prepare_threshold": 0, "row_factory": dict_row},
    )
    await pool.open()
    try:
        saver = AsyncPostgresSaver(pool)
        await saver.setup()  # creates/migrates its own tables, idempotent
        yield saver
    finally:
        await pool.close()
