"""Read-only figures about procrastinate's job table (its schema belongs to procrastinate)."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession


class JobRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def finished_count(self, *, excluding_task: str) -> int:
        """Jobs that ran to an end (succeeded or failed), maintenance tasks left out."""
        count = await self.session.scalar(
            text(
                "SELECT count(*) FROM procrastinate_jobs"
                " WHERE status IN ('succeeded', 'failed') AND task_name <> :task"
            ),
            {"task": excluding_task},
        )
        return count or 0
