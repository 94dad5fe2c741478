"""The FastAPI app. Its lifespan opens the one runtime (services/runtime.py), keeps it on
app.state for the dependencies in api/deps.py, and embeds a job worker unless disabled."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Coroutine
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import structlog
from fastapi import FastAPI

from api.auth.router import router as auth_router
from api.console.app import CONSOLE_UPLOAD_PATH, install_console
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
from core.logging import configure_logging
from core.settings import Settings, get_settings
from services.runtime import open_runtime, warm_up
from services.worker import run_worker_until_stopped

log = structlog.get_logger(__name__)
API_PREFIX = "/api/v1"


def _background(stack: AsyncExitStack, coroutine: Coroutine[Any, Any, None]) -> None:
    task = asyncio.create_task(coroutine)

    async def _stop() -> None:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    stack.push_async_callback(_stop)


def create_app(settings: Settings | None = None, **runtime_overrides: Any) -> FastAPI:
    """runtime_overrides (chat_model, embedder, web_search) let tests inject their doubles."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            runtime = await stack.enter_async_context(open_runtime(settings, **runtime_overrides))
            app.state.runtime = runtime
            _background(stack, warm_up(runtime))
            if settings.worker_enabled:
                _background(stack, run_worker_until_stopped(runtime))
            settings.jwt_secret()  # generate (and warn about) the dev secret at startup
            log.info("inferra_started", env=settings.inferra_env.value)
            yield
            log.info("inferra_stopping")

    app = FastAPI(
        title="Inferra",
        version="0.1.0",
        description="AI-assisted IT support ticketing backend.",
        lifespan=lifespan,
        docs_url=None,  # served by the console from local copies (api/console/docs.py)
        redoc_url=None,
    )
    app.state.settings = settings
    install_console(app, settings)  # before the body limit, which must wrap its CSRF check
    app.add_middleware(
        BodySizeLimitMiddleware,
        max_bytes=settings.max_request_bytes,
        # the upload route checks its own per-file and per-request limits (api/kb/uploads.py)
        exempt_paths=(f"{API_PREFIX}/llm/ingest_doc", CONSOLE_UPLOAD_PATH),
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
