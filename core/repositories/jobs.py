"""Read-only figures about procrastinate's job table (its schema belongs to procrastinate)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession


class JobRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def finished_count(self, *, excluding_tasks: Sequence[str]) -> int:
        """Jobs that ran to an end (succeeded or failed), maintenance tasks left out."""
        count = await self.session.scalar(
            text(
                "SELECT count(*) FROM procrastinate_jobs"
                " WHERE status IN ('succeeded', 'failed') AND task_name <> ALL(:tasks)"
            ),
            {"tasks": list(excluding_tasks)},
        )
        return count or 0
