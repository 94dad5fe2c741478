"""Liveness (/healthz) and readiness (/readyz: database, migrations at head, pgvector)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from core.errors import ServiceUnavailable
from core.migrate import current_revision, head_revision

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", responses={503: {"description": "Not ready; details say why"}})
async def readyz(request: Request) -> dict[str, object]:
    engine: AsyncEngine = request.app.state.runtime.engine
    try:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
            revision = await current_revision(conn)
            vector = await conn.scalar(
                text("SELECT extversion FROM pg_extension WHERE extname = 'vector'")
            )
    except Exception as exc:  # any driver error means "not ready", with the reason
        raise ServiceUnavailable("Database unreachable", details={"error": str(exc)[:200]}) from exc
    checks = {"database": "ok", "migration": revision, "head": head_revision(), "pgvector": vector}
    if revision != checks["head"] or vector is None:
        raise ServiceUnavailable("Database not ready", details=checks)
    return {"status": "ready", **checks}
