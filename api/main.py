"""The FastAPI app. The lifespan locates the database (embedded or DATABASE_URL), migrates it,
and keeps the engine and session factory on app.state."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

import structlog
from fastapi import FastAPI

from api.auth.router import router as auth_router
from api.errors import install_error_handlers
from api.health import router as health_router
from api.middleware import RequestContextMiddleware
from api.users.router import router as users_router
from core import migrate
from core.db import create_engine, create_sessionmaker, database_location
from core.logging import configure_logging
from core.settings import Settings, get_settings

log = structlog.get_logger(__name__)
API_PREFIX = "/api/v1"


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            urls = await asyncio.to_thread(stack.enter_context, database_location(settings))
            if settings.migrate_on_start:
                await asyncio.to_thread(migrate.upgrade, urls)
            engine = create_engine(urls)
            stack.push_async_callback(engine.dispose)
            app.state.database_urls = urls
            app.state.engine = engine
            app.state.sessionmaker = create_sessionmaker(engine)
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
    app.add_middleware(RequestContextMiddleware)
    install_error_handlers(app)
    app.include_router(health_router)
    app.include_router(auth_router, prefix=API_PREFIX)
    app.include_router(users_router, prefix=API_PREFIX)
    return app


def app_factory() -> FastAPI:
    """Entry point for `uvicorn --factory api.main:app_factory`."""
    settings = get_settings()
    configure_logging(settings.log_level, json=settings.log_json)
    return create_app(settings)
