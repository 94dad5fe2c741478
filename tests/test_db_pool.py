"""The engines' pools (core/db.py): a connection is pinged only after sitting idle, and the read
engine that serves GET requests refuses writes in Postgres itself."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, OperationalError

from core import db
from core.db import DatabaseUrls, create_engine
from services.resources import Runtime


async def _backend_pid(engine) -> int:
    async with engine.connect() as connection:
        return (await connection.execute(text("SELECT pg_backend_pid()"))).scalar_one()


async def _terminate(engine, pid: int) -> None:
    async with engine.connect() as connection:  # another engine's: the victim's pool is untouched
        await connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})


@pytest.mark.parametrize("read_only", [False, True])
async def test_an_idle_connection_is_pinged_and_replaced_when_it_broke(
    database_urls: DatabaseUrls, monkeypatch: pytest.MonkeyPatch, read_only: bool
) -> None:
    monkeypatch.setattr(db, "PING_AFTER_IDLE_SECONDS", 0.0)  # every checkout counts as idle
    engine = create_engine(database_urls, read_only=read_only, pool_size=2, max_overflow=0)
    killer = create_engine(database_urls, pool_size=1, max_overflow=0)
    try:
        broken = await _backend_pid(engine)
        await _terminate(killer, broken)
        assert await _backend_pid(engine) != broken  # the ping failed, a fresh connection served
    finally:
        await engine.dispose()
        await killer.dispose()


async def test_a_connection_used_just_now_is_not_pinged_and_one_failure_renews_the_pool(
    database_urls: DatabaseUrls, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(db, "PING_AFTER_IDLE_SECONDS", 3600.0)  # never idle long enough
    engine = create_engine(database_urls, pool_size=2, max_overflow=0)
    killer = create_engine(database_urls, pool_size=1, max_overflow=0)
    try:
        broken = await _backend_pid(engine)
        await _terminate(killer, broken)
        with pytest.raises(OperationalError):  # a request's 503 (api/errors.py)
            await _backend_pid(engine)
        assert await _backend_pid(engine) != broken  # the next request reconnects
    finally:
        await engine.dispose()
        await killer.dispose()


async def test_the_read_sessions_refuse_writes_and_need_no_transaction(runtime: Runtime) -> None:
    async with runtime.read_sessionmaker() as session:
        connection = await session.connection()
        raw = (await connection.get_raw_connection()).driver_connection
        assert raw is not None and raw.autocommit  # no BEGIN / COMMIT round trips
        with pytest.raises(DBAPIError, match="read-only transaction"):
            await session.execute(text("UPDATE users SET email = email WHERE false"))
    async with runtime.sessionmaker() as session:  # the other requests' sessions still write
        await session.execute(text("UPDATE users SET email = email WHERE false"))
