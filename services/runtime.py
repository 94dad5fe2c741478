"""The one wiring function: `open_runtime` builds everything Inferra runs on (database, engine,
checkpointer, graph, providers, job app with every task) and runs the startup checks. `serve`,
`worker` and the other CLI commands, `eval`, the benchmarks and the tests all open it; nothing
else builds these parts."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Coroutine
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import procrastinate
import structlog
from langchain_core.language_models import BaseChatModel
from sqlalchemy.ext.asyncio import AsyncEngine

from agent.checkpointer import postgres_checkpointer
from agent.context import build_context
from agent.graph import build_graph
from core import migrate, user_cache
from core.db import DatabaseUrls, create_engine, create_sessionmaker, open_database
from core.embedded_pg import EmbeddedSupervisor, RestartPolicy
from core.errors import ConfigurationError
from core.providers.chat import configure_tracing
from core.providers.embeddings import Embedder, create_embedder, embedding_dimension
from core.providers.web_search import WebSearch
from core.settings import Settings
from ingestion.sandbox import sandbox
from services.resources import Runtime
from services.worker import register_tasks

log = structlog.get_logger(__name__)


async def check_embedding_dimension(engine: AsyncEngine, embedder: Embedder) -> None:
    async with engine.connect() as conn:
        stored = await migrate.stored_embedding_dim(conn)
    if stored is not None and stored != embedder.dim:
        raise ConfigurationError(
            f"This database stores {stored}-d embeddings but the configured provider "
            f"({embedder.name}) produces {embedder.dim}-d. Use the provider the database was "
            "created with, or a new database."
        )


def create_job_app(
    urls: DatabaseUrls, settings: Settings, *, max_size: int = 10
) -> procrastinate.App:
    connector = procrastinate.PsycopgConnector(conninfo=urls.libpq, min_size=1, max_size=max_size)
    app = procrastinate.App(connector=connector)
    register_tasks(app, settings)
    return app


@asynccontextmanager
async def open_runtime(
    settings: Settings,
    *,
    migrate_database: bool | None = None,
    chat_model: BaseChatModel | None = None,
    embedder: Embedder | None = None,
    web_search: WebSearch | None = None,
    pool_size: int = 10,
) -> AsyncIterator[Runtime]:
    """chat_model, embedder and web_search replace the configured providers (tests, evals)."""
    configure_tracing(settings)
    async with AsyncExitStack() as stack:
        database = await asyncio.to_thread(stack.enter_context, open_database(settings))
        urls = database.urls
        supervisor = _supervise(stack, settings, database.embedded)
        if settings.migrate_on_start if migrate_database is None else migrate_database:
            dim = embedding_dimension(settings)
            await asyncio.to_thread(migrate.upgrade, urls, embedding_dim=dim)
        # Sessions are the busiest pool: twice the others, kept open. Connections past pool_size
        # (SQLAlchemy's overflow) are closed when returned: with 10, a 16-user load reopened
        # 11-13 Postgres backends a second (benchmarks/README.md, fifth session).
        engine = create_engine(urls, pool_size=2 * pool_size)
        stack.push_async_callback(engine.dispose)
        read_engine = create_engine(urls, read_only=True, pool_size=pool_size)
        stack.push_async_callback(read_engine.dispose)
        embedder = embedder or create_embedder(settings)
        await check_embedding_dimension(engine, embedder)
        checkpointer = await stack.enter_async_context(
            postgres_checkpointer(urls.libpq, max_size=pool_size)
        )
        sessionmaker = create_sessionmaker(engine)
        context = build_context(
            settings, sessionmaker, chat_model=chat_model, embedder=embedder, web_search=web_search
        )
        _listen_for_user_changes(stack, settings, urls.libpq)
        job_app = create_job_app(urls, settings, max_size=pool_size)
        await stack.enter_async_context(job_app.open_async())
        runtime = Runtime(
            settings=settings,
            urls=urls,
            engine=engine,
            sessionmaker=sessionmaker,
            read_sessionmaker=create_sessionmaker(read_engine),
            graph=build_graph(checkpointer),
            agent=context,
            jobs=job_app,
            supervisor=supervisor,
        )
        yield runtime


def prepare_database(settings: Settings) -> None:
    """Migrations (if MIGRATE_ON_START) and the checkpointer's own tables, once, before several
    processes open the runtime at the same time (`inferra serve --workers N`): two LangGraph
    setups on a fresh database collide."""
    with open_database(settings) as database:
        if settings.migrate_on_start:
            migrate.upgrade(database.urls, embedding_dim=embedding_dimension(settings))

        async def checkpointer_tables() -> None:
            async with postgres_checkpointer(database.urls.libpq, max_size=1):
                pass

        asyncio.run(checkpointer_tables())


def _listen_for_user_changes(stack: AsyncExitStack, settings: Settings, conninfo: str) -> None:
    """Authentication's user cache, kept true by the database's change notifications."""
    user_cache.USERS.ttl_seconds = settings.auth_user_cache_seconds
    if settings.auth_user_cache_seconds <= 0:
        return
    _in_background(stack, user_cache.listen_for_changes(conninfo))


def _in_background(stack: AsyncExitStack, work: Coroutine[Any, Any, Any]) -> None:
    """A task for the runtime's lifetime, cancelled when it closes."""
    task = asyncio.create_task(work)

    async def stop() -> None:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    stack.push_async_callback(stop)


def _supervise(
    stack: AsyncExitStack, settings: Settings, embedded: object | None
) -> EmbeddedSupervisor | None:
    """Watch the embedded server (never one given by DATABASE_URL: that one is not ours)."""
    if embedded is None:
        return None
    policy = RestartPolicy(
        check_seconds=settings.embedded_pg_check_seconds,
        max_restarts=settings.embedded_pg_max_restarts,
        window_seconds=settings.embedded_pg_restart_window_seconds,
    )
    supervisor = EmbeddedSupervisor(embedded, policy)

    def exit_soon(reason: str) -> None:
        # The supervisor logged why; /healthz reports the failure until the process exits, so a
        # process supervisor probing it sees the truth either way.
        asyncio.get_running_loop().call_later(settings.embedded_pg_exit_delay_seconds, os._exit, 1)

    _in_background(stack, supervisor.watch(exit_soon))
    return supervisor


async def warm_up(runtime: Runtime) -> None:
    """Start a parser worker and load a local embedding model now rather than on the first
    request that needs them."""
    sandbox().warm(runtime.settings.ingest_parse_workers)
    warm = getattr(runtime.embedder, "warm_up", None)
    if warm is not None:
        await warm()
