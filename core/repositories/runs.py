"""SQL for agent runs. The `queued` rows are the job queue: enqueueing a run is inserting its
row in the same transaction as the ticket, so a crash can never lose or orphan a run."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from core.models import AgentRun, RunStatus, RunTrigger

NOTIFY_CHANNEL = "inferra_runs"


class RunRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def enqueue(
        self,
        ticket_id: uuid.UUID,
        trigger: RunTrigger,
        *,
        requested_by: uuid.UUID | None = None,
        **fields: Any,
    ) -> AgentRun:
        run = AgentRun(
            ticket_id=ticket_id,
            trigger=trigger,
            requested_by=requested_by,
            status=RunStatus.queued,
            **fields,
        )
        self.session.add(run)
        await self.session.flush()
        # Delivered at commit: idle workers wake up at once instead of at their next poll.
        await self.session.execute(text(f"NOTIFY {NOTIFY_CHANNEL}"))
        return run

    async def get(self, run_id: uuid.UUID) -> AgentRun | None:
        return await self.session.get(AgentRun, run_id)

    async def list_for_ticket(self, ticket_id: uuid.UUID) -> list[AgentRun]:
        rows = await self.session.scalars(
            select(AgentRun).where(AgentRun.ticket_id == ticket_id).order_by(AgentRun.created_at)
        )
        return list(rows)

    async def claim_next(self, worker_id: str, lease_seconds: int) -> AgentRun | None:
        """Take one queued run, or a running one whose worker stopped renewing its lease
        (crashed); SKIP LOCKED lets many workers claim concurrently without blocking."""
        row = await self.session.execute(
            text(
                """
                UPDATE agent_runs SET status = 'running', worker_id = :worker,
                       lease_until = now() + make_interval(secs => :lease),
                       attempts = attempts + 1, started_at = coalesce(started_at, now())
                 WHERE id = (
                       SELECT id FROM agent_runs
                        WHERE status = 'queued'
                           OR (status = 'running' AND lease_until < now())
                        ORDER BY created_at
                        FOR UPDATE SKIP LOCKED LIMIT 1)
                RETURNING id
                """
            ),
            {"worker": worker_id, "lease": lease_seconds},
        )
        run_id = row.scalar_one_or_none()
        return await self.session.get(AgentRun, run_id) if run_id else None

    async def renew_lease(self, run_id: uuid.UUID, worker_id: str, lease_seconds: int) -> bool:
        result = await self.session.execute(
            text(
                "UPDATE agent_runs SET lease_until = now() + make_interval(secs => :lease)"
                " WHERE id = :id AND worker_id = :worker AND status = 'running'"
            ),
            {"id": run_id, "worker": worker_id, "lease": lease_seconds},
        )
        return result.rowcount == 1

    async def finish(
        self,
        run_id: uuid.UUID,
        status: RunStatus,
        *,
        error: str | None = None,
        model: str | None = None,
        skipped_steps: list[dict[str, Any]] | None = None,
    ) -> None:
        values: dict[str, Any] = {"status": status, "lease_until": None, "error": error}
        if status in (RunStatus.succeeded, RunStatus.failed):
            values["finished_at"] = datetime.now(UTC)
        if model is not None:
            values["model"] = model
        if skipped_steps is not None:
            values["skipped_steps"] = skipped_steps
        await self.session.execute(update(AgentRun).where(AgentRun.id == run_id).values(**values))
