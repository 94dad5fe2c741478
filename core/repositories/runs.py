"""SQL for agent runs, the domain record of each run job (status, trigger, lineage, owner)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from core.models import AgentRun, RunStatus, RunTrigger

ACTIVE = (RunStatus.queued, RunStatus.running)


class RunRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(
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
        return run

    async def get(self, run_id: uuid.UUID, *, for_update: bool = False) -> AgentRun | None:
        # Locking re-reads the row: a copy already in the session may be stale.
        return await self.session.get(
            AgentRun, run_id, with_for_update=for_update, populate_existing=for_update
        )

    async def list_for_ticket(self, ticket_id: uuid.UUID) -> list[AgentRun]:
        rows = await self.session.scalars(
            select(AgentRun).where(AgentRun.ticket_id == ticket_id).order_by(AgentRun.created_at)
        )
        return list(rows)

    async def active_for_ticket(self, ticket_id: uuid.UUID) -> uuid.UUID | None:
        return await self.session.scalar(
            select(AgentRun.id).where(AgentRun.ticket_id == ticket_id, AgentRun.status.in_(ACTIVE))
        )

    async def end_waiting_for_staff(self, ticket_id: uuid.UUID, reason: str) -> list[uuid.UUID]:
        """Runs of the ticket still waiting for a staff decision end (failed, with the reason):
        staff settled the ticket themselves, so a later approval must not act on it."""
        ended = await self.session.scalars(
            update(AgentRun)
            .where(AgentRun.ticket_id == ticket_id, AgentRun.status == RunStatus.interrupted)
            .values(status=RunStatus.failed, error=reason, finished_at=datetime.now(UTC))
            .returning(AgentRun.id)
        )
        return list(ended)

    async def queued_count_for(self, requester_id: uuid.UUID | None) -> int:
        """How many runs this requester already has waiting (fair scheduling)."""
        if requester_id is None:
            return 0
        count = await self.session.scalar(
            select(func.count()).where(
                AgentRun.requested_by == requester_id, AgentRun.status == RunStatus.queued
            )
        )
        return count or 0

    async def start_attempt(self, run_id: uuid.UUID, token: str) -> AgentRun | None:
        """Make `token` the run's owner; None when the run is over (nothing left to do)."""
        run = await self.session.scalar(
            update(AgentRun)
            .where(AgentRun.id == run_id, AgentRun.status.in_(ACTIVE))
            .values(
                status=RunStatus.running,
                attempt_token=token,
                attempts=AgentRun.attempts + 1,
                started_at=func.coalesce(AgentRun.started_at, func.now()),
            )
            .returning(AgentRun)
            .execution_options(populate_existing=True)
        )
        return run

    async def take_over_interrupted(self, run_id: uuid.UUID, token: str) -> AgentRun | None:
        """An interrupted run resumed directly (from LangGraph Studio) by the attempt `token`,
        with a crash budget of its own; None when the run is not waiting for staff."""
        return await self.session.scalar(
            update(AgentRun)
            .where(AgentRun.id == run_id, AgentRun.status == RunStatus.interrupted)
            .values(status=RunStatus.running, attempt_token=token, attempts=1)
            .returning(AgentRun)
            .execution_options(populate_existing=True)
        )

    async def finish(
        self,
        run_id: uuid.UUID,
        token: str,
        status: RunStatus,
        *,
        error: str | None = None,
        model: str | None = None,
        skipped_steps: list[dict[str, Any]] | None = None,
    ) -> bool:
        """Record the outcome of the attempt `token`; False (nothing written) when another
        attempt owns the run now, e.g. this worker stalled and was superseded."""
        values: dict[str, Any] = {"status": status, "error": error, "pending_decision": None}
        if status in (RunStatus.succeeded, RunStatus.failed):
            values["finished_at"] = datetime.now(UTC)
        if model is not None:
            values["model"] = model
        if skipped_steps is not None:
            values["skipped_steps"] = skipped_steps
        result = await self.session.execute(
            update(AgentRun)
            .where(
                AgentRun.id == run_id,
                AgentRun.attempt_token == token,
                AgentRun.status == RunStatus.running,
            )
            .values(**values)
        )
        return result.rowcount == 1

    async def requeue(self, run_id: uuid.UUID, token: str, error: str) -> bool:
        """An attempt failed and the job will be retried: the run waits again."""
        result = await self.session.execute(
            update(AgentRun)
            .where(AgentRun.id == run_id, AgentRun.attempt_token == token)
            .values(status=RunStatus.queued, error=error)
        )
        return result.rowcount == 1
