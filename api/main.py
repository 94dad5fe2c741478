"""The FastAPI app. The lifespan locates the database (embedded or DATABASE_URL), migrates it,
and keeps the engine and session factory on app.state."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

import structlog
from fastapi import FastAPI

from agent.checkpointer import postgres_checkpointer
from agent.context import build_context
from agent.graph import build_graph
from agent.worker import RunWorker
from api.auth.router import router as auth_router
from api.errors import install_error_handlers
from api.feedback.router import router as feedback_router
from api.health import router as health_router
from api.kb.router import router as kb_router
from api.middleware import BodySizeLimitMiddleware, RequestContextMiddleware
from api.openapi import install_openapi
from api.runs.router import router as runs_router
from api.tickets.router import llm_router
from api.tickets.router import router as tickets_router
from api.users.router import router as users_router
from core import migrate
from core.db import DatabaseUrls, create_engine, create_sessionmaker, database_location
from core.errors import ConfigurationError
from core.logging import configure_logging
from core.providers.chat import configure_tracing
from core.providers.embeddings import Embedder, create_embedder, embedding_dimension
from core.settings import Settings, get_settings
from ingestion.queue import process_next_document

log = structlog.get_logger(__name__)
API_PREFIX = "/api/v1"


async def check_embedding_dimension(engine, embedder: Embedder) -> None:
    async with engine.connect() as conn:
        stored = await migrate.stored_embedding_dim(conn)
    if stored is not None and stored != embedder.dim:
        raise ConfigurationError(
            f"This database stores {stored}-d embeddings but the configured provider "
            f"({embedder.name}) produces {embedder.dim}-d. Use the provider the database was "
            "created with, or a new database."
        )


async def start_agent(app: FastAPI, stack: AsyncExitStack, urls: DatabaseUrls, **overrides):
    """Checkpointer, graph, agent context and (unless disabled) the in-process run worker."""
    settings: Settings = app.state.settings
    configure_tracing(settings)
    embedder = overrides.pop("embedder", None) or create_embedder(settings)
    await check_embedding_dimension(app.state.engine, embedder)
    checkpointer = await stack.enter_async_context(postgres_checkpointer(urls.libpq))
    app.state.graph = build_graph(checkpointer)
    app.state.agent_context = build_context(
        settings, app.state.sessionmaker, embedder=embedder, **overrides
    )
    warm_up = getattr(embedder, "warm_up", None)
    if warm_up is not None:  # load the local model now, not on the first request
        _background(stack, warm_up())
    app.state.worker = RunWorker(
        graph=app.state.graph,
        context=app.state.agent_context,
        listen_conninfo=urls.libpq,
        other_jobs=[ingestion_job(app.state.sessionmaker, embedder, settings)],
    )
    if settings.worker_enabled:
        _background(stack, app.state.worker.run_forever())


def ingestion_job(sessionmaker, embedder: Embedder, settings: Settings):
    """Queued large uploads, served by the same worker as agent runs."""
    return lambda: process_next_document(sessionmaker, embedder, settings)


def _background(stack: AsyncExitStack, coroutine) -> None:
    task = asyncio.create_task(coroutine)

    async def _stop() -> None:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    stack.push_async_callback(_stop)


def create_app(settings: Settings | None = None, **agent_overrides) -> FastAPI:
    """agent_overrides (chat_model, embedder, web_search) let tests inject their doubles."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            urls = await asyncio.to_thread(stack.enter_context, database_location(settings))
            if settings.migrate_on_start:
                dim = embedding_dimension(settings)
                await asyncio.to_thread(migrate.upgrade, urls, embedding_dim=dim)
            engine = create_engine(urls)
            stack.push_async_callback(engine.dispose)
            app.state.database_urls = urls
            app.state.engine = engine
            app.state.sessionmaker = create_sessionmaker(engine)
            await start_agent(app, stack, urls, **dict(agent_overrides))
            settings.jwt_secret()  # generate (and warn about) the dev secret at startup
            log.info("inferra_started", env=settings.inferra_env.value)
            yield
            log.info("inferra_stopping")

    app = FastAPI(
        title="Inferra",
        version="0.1.0",
        description="AI-assisted IT support ticketing backend.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.add_middleware(
        BodySizeLimitMiddleware,
        max_bytes=settings.max_request_bytes,
        # the upload route checks its own per-file and per-request limits (api/kb/service.py)
        exempt_paths=(f"{API_PREFIX}/llm/ingest_doc",),
    )
    app.add_middleware(RequestContextMiddleware)
    install_error_handlers(app)
    install_openapi(app)
    app.include_router(health_router)
    app.include_router(auth_router, prefix=API_PREFIX)
    app.include_router(users_router, prefix=API_PREFIX)
    app.include_router(tickets_router, prefix=API_PREFIX)
    app.include_router(llm_router, prefix=API_PREFIX)
    app.include_router(kb_router, prefix=API_PREFIX)
    app.include_router(runs_router, prefix=API_PREFIX)
    app.include_router(feedback_router, prefix=API_PREFIX)
    return app


def app_factory() -> FastAPI:
    """Entry point for `uvicorn --factory api.main:app_factory`."""
    settings = get_settings()
    configure_logging(settings.log_level, json=settings.log_json)
    return create_app(settings)
