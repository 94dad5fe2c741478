"""Counting for throttles and quotas: fixed-window counters in Postgres (so every API process
shares one limit) and the counts of domain rows a quota is about."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache

from sqlalchemy import Select, bindparam, delete, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from core.models import AgentRun, RateLimitHit, RunStatus, Ticket, TicketStatus


@dataclass(frozen=True)
class RequesterCounts:
    open_tickets: int  # in the statuses asked for
    queued_runs: int  # waiting for a worker (fair scheduling)


@dataclass(frozen=True)
class Window:
    """A key's count in the current fixed window."""

    hits: int
    start: datetime
    retry_after: int  # whole seconds until the window ends (at least 1)


def _window(window_seconds: int, now: datetime | None) -> tuple[datetime, datetime, int]:
    now = now or datetime.now(UTC)
    epoch = int(now.timestamp())
    start = datetime.fromtimestamp(epoch - epoch % window_seconds, UTC)
    end = start + timedelta(seconds=window_seconds)
    return now, start, max(1, int((end - now).total_seconds() + 0.999))


class RateLimitRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def hit(self, key: str, window_seconds: int, now: datetime | None = None) -> Window:
        """Count one hit for key. The row stays locked until the transaction ends, so the hits
        of one key in concurrent transactions are counted one after the other."""
        now, start, retry_after = _window(window_seconds, now)
        result = await self.session.execute(_HIT, {"key": key, "window_start": start})
        hits = result.scalar_one()
        if hits == 1:  # a new window: the key's expired ones are dead weight
            await self.session.execute(
                delete(RateLimitHit).where(
                    RateLimitHit.key == key, RateLimitHit.window_start < start
                )
            )
        return Window(hits, start, retry_after)

    async def unhit(self, key: str, window_start: datetime) -> None:
        """Take back one hit counted in that window (a no-op once the window has rolled over)."""
        await self.session.execute(
            update(RateLimitHit)
            .where(
                RateLimitHit.key == key,
                RateLimitHit.window_start == window_start,
                RateLimitHit.hits > 0,
            )
            .values(hits=RateLimitHit.hits - 1)
        )

    async def requester_counts(
        self, owner_id: uuid.UUID, open_statuses: Iterable[TicketStatus]
    ) -> RequesterCounts:
        """The owner's tickets in `open_statuses` and queued runs, in one round trip."""
        stmt = _requester_counts(tuple(open_statuses))
        row = (await self.session.execute(stmt, {"owner_id": owner_id})).one()
        return RequesterCounts(open_tickets=row[0], queued_runs=row[1])


# Statements built once, not per request (building one costs about what running it does).
_HIT = (
    insert(RateLimitHit.__table__)
    .values(key=bindparam("key"), window_start=bindparam("window_start"), hits=1)
    .on_conflict_do_update(
        index_elements=[RateLimitHit.key, RateLimitHit.window_start],
        set_={"hits": RateLimitHit.hits + 1},
    )
    .returning(RateLimitHit.hits)
)


@cache
def _requester_counts(open_statuses: tuple[TicketStatus, ...]) -> Select[tuple[int, int]]:
    owner_id = bindparam("owner_id")
    open_tickets = (
        select(func.count())
        .select_from(Ticket)
        .where(Ticket.owner_id == owner_id, Ticket.status.in_(open_statuses))
        .scalar_subquery()
    )
    queued_runs = (
        select(func.count())
        .select_from(AgentRun)
        .where(AgentRun.requested_by == owner_id, AgentRun.status == RunStatus.queued)
        .scalar_subquery()
    )
    return select(open_tickets, queued_runs)
