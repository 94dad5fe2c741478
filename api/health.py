"""Liveness (/healthz) and readiness (/readyz: database, migrations at head, pgvector)."""

from __future__ import annotations

import structlog
from fastapi import APIRouter, Request
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from core.errors import ServiceUnavailable
from core.migrate import current_revision, head_revision

log = structlog.get_logger(__name__)
router = APIRouter(tags=["health"])


@router.get("/healthz", responses={503: {"description": "The process cannot recover by itself"}})
async def healthz(request: Request) -> dict[str, str]:
    """Liveness: fails when the embedded database is down for good (this process then exits);
    a database that is only restarting is a readiness matter (/readyz)."""
    supervisor = request.app.state.runtime.supervisor
    if supervisor is not None and supervisor.failure is not None:
        # The why (paths, causes) is in the server log, not for anonymous callers.
        raise ServiceUnavailable(
            "The embedded database is down and cannot be restarted; see the server log",
            code="database_lost",
        )
    return {"status": "ok"}


@router.get("/readyz", responses={503: {"description": "Not ready; the server log says why"}})
async def readyz(request: Request) -> dict[str, object]:
    engine: AsyncEngine = request.app.state.runtime.engine
    try:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
            revision = await current_revision(conn)
            vector = await conn.scalar(
                text("SELECT extversion FROM pg_extension WHERE extname = 'vector'")
            )
    except Exception as exc:  # any driver error means "not ready"; the why goes to the log only
        log.warning("readyz_database_unreachable", error=str(exc)[:500])
        raise ServiceUnavailable("Database unreachable") from exc
    checks = {"database": "ok", "migration": revision, "head": head_revision(), "pgvector": vector}
    if revision != checks["head"] or vector is None:
        log.warning("readyz_not_ready", **checks)
        raise ServiceUnavailable("Database not ready (see the server log)")
    return {"status": "ready", **checks}
