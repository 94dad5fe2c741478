"""SQL for feedback on resolutions and its summary figures."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import String, cast, func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from core.models import Feedback, Resolution, Ticket, Verdict


class FeedbackRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def upsert(self, **values: Any) -> Feedback:
        stmt = (
            insert(Feedback)
            .values(id=uuid.uuid4(), **values)
            .on_conflict_do_update(
                constraint="uq_feedback_resolution_user",
                set_={k: values[k] for k in ("verdict", "reason", "comment")}
                | {"updated_at": func.now()},
            )
            .returning(Feedback)
        )
        return (await self.session.execute(stmt)).scalar_one()

    async def not_helpful_counts(self, ticket_ids: list[uuid.UUID]) -> dict[uuid.UUID, int]:
        """Per ticket: not_helpful verdicts on its accepted resolution (used to demote it)."""
        if not ticket_ids:
            return {}
        rows = await self.session.execute(
            select(Ticket.id, func.count(Feedback.id))
            .join(Feedback, Feedback.resolution_id == Ticket.accepted_resolution_id)
            .where(Ticket.id.in_(ticket_ids), Feedback.verdict == Verdict.not_helpful)
            .group_by(Ticket.id)
        )
        return {ticket_id: count for ticket_id, count in rows}

    async def summary(self, since: datetime, until: datetime) -> dict[str, Any]:
        helpful = func.count().filter(Feedback.verdict == Verdict.helpful)
        return {
            "overall": await self._grouped(None, since, until, helpful),
            "by_category": await self._grouped(Ticket.category, since, until, helpful),
            "by_model": await self._grouped(Resolution.model, since, until, helpful),
            "reasons": await self._reasons(since, until),
        }

    async def by_day(self, since: datetime, until: datetime) -> list[dict[str, Any]]:
        """Helpfulness per UTC day of the window (days without feedback are left out)."""
        day = func.date_trunc("day", func.timezone("UTC", Feedback.updated_at))
        helpful = func.count().filter(Feedback.verdict == Verdict.helpful)
        return await self._grouped(day, since, until, helpful)

    async def latest_not_helpful(self, limit: int) -> list[tuple[Feedback, Ticket]]:
        stmt = (
            select(Feedback, Ticket)
            .join(Resolution, Resolution.id == Feedback.resolution_id)
            .join(Ticket, Ticket.id == Resolution.ticket_id)
            .where(Feedback.verdict == Verdict.not_helpful)
            .order_by(Feedback.updated_at.desc())
            .limit(limit)
        )
        return [(f, t) for f, t in (await self.session.execute(stmt)).all()]

    def _window(self, stmt, since: datetime, until: datetime):
        return (
            stmt.join(Resolution, Resolution.id == Feedback.resolution_id)
            .join(Ticket, Ticket.id == Resolution.ticket_id)
            .where(Feedback.updated_at >= since, Feedback.updated_at < until)
        )

    async def _grouped(self, column, since, until, helpful) -> list[dict[str, Any]]:
        columns = [func.count().label("total"), helpful.label("helpful")]
        stmt = select(*([column] if column is not None else []), *columns).select_from(Feedback)
        stmt = self._window(stmt, since, until)
        if column is not None:
            stmt = stmt.group_by(column).order_by(column)
        rows = (await self.session.execute(stmt)).all()
        return [
            {
                "key": (str(getattr(row[0], "value", row[0])) if column is not None else "all"),
                "total": row.total,
                "helpful": row.helpful,
                "helpful_rate": round(row.helpful / row.total, 4) if row.total else None,
            }
            for row in rows
            if row.total
        ]

    async def _reasons(self, since, until) -> dict[str, int]:
        reason = func.coalesce(cast(Feedback.reason, String), "none")
        stmt = (
            self._window(select(reason, func.count()).select_from(Feedback), since, until)
            .where(Feedback.verdict == Verdict.not_helpful)
            .group_by(reason)
        )
        return {r: n for r, n in await self.session.execute(stmt)}
