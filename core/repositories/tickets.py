"""SQL for tickets, comments and resolutions."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import Select, bindparam, func, insert, inspect, select, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased, defer
from sqlalchemy.orm.attributes import set_committed_value

from core.models import (
    AgentRun,
    Category,
    Priority,
    Resolution,
    Ticket,
    TicketComment,
    TicketStatus,
)
from core.pagination import Page, PageRequest

# Literal, as in the index ix_tickets_queue_order (migration 0006): a bound parameter in its
# place would not match the index expression.
ESCALATED_LAST = text("tickets.status <> 'escalated'")


@dataclass(frozen=True)
class TicketFilters:
    owner_id: uuid.UUID | None = None  # set for non-staff callers: they see their own only
    status: TicketStatus | None = None
    category: Category | None = None
    priority: Priority | None = None
    assignee_id: uuid.UUID | None = None
    q: str | None = None


# Columns no page or response shows, left out of the reads that render tickets: a stored
# embedding alone is 384 floats sent as text and parsed (~0.1 ms a row). raiseload: code that
# reads them from such a ticket fails loudly instead of loading them behind our back.
_NOT_SHOWN = (defer(Ticket.embedding, raiseload=True), defer(Ticket.search_tsv, raiseload=True))


def _ticket_with_latest() -> Select[tuple[Ticket, Resolution, AgentRun]]:
    """Built once (`_TICKET_WITH_LATEST`): its aliased subqueries cost more CPU to build than
    the query takes to run (~40 % of a `GET /tickets/{id}`, benchmarks/README.md, issue 17)."""
    version, attempt = aliased(Resolution), aliased(AgentRun)  # inside the subqueries
    latest_resolution = (
        select(version.id)
        .where(version.ticket_id == Ticket.id)
        .order_by(version.version.desc())
        .limit(1)
        .correlate(Ticket)
        .scalar_subquery()
    )
    latest_run = (
        select(attempt.id)
        .where(attempt.ticket_id == Ticket.id)
        .order_by(attempt.created_at.desc())
        .limit(1)
        .correlate(Ticket)
        .scalar_subquery()
    )
    return (
        select(Ticket, Resolution, AgentRun)
        .select_from(Ticket)
        .outerjoin(Resolution, Resolution.id == latest_resolution)
        .outerjoin(AgentRun, AgentRun.id == latest_run)
        .where(Ticket.id == bindparam("ticket_id"))
        .options(*_NOT_SHOWN)
    )


_TICKET_WITH_LATEST = _ticket_with_latest()
_TICKET_READ = [c for c in Ticket.__table__.c if c.key not in ("embedding", "search_tsv")]


def _new_row(entity: Any) -> dict[str, Any]:
    """A new entity's column values, with the columns' Python-side defaults filled in here
    (SQLAlchemy leaves the outer INSERT's defaults unset when a CTE inserts too); None is a new
    row's NULL, left out."""
    given = inspect(entity).dict
    values = {}
    for column in entity.__table__.c:
        value = given.get(column.key)
        if value is None and column.default is not None and column.default.is_scalar:
            value = column.default.arg
        elif value is None and column.default is not None and column.default.is_callable:
            value = column.default.arg(None)
        if value is not None:
            values[column.key] = value
    return values


class TicketRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add_with_run(self, ticket: Ticket, run: AgentRun) -> None:
        """A new ticket and its first run in one statement (the run's INSERT a CTE of the
        ticket's: its foreign key is checked at the end of the statement, when both rows
        exist). Core, not the unit of work: one round trip instead of two flushes. The ticket's
        server-made columns come back into `ticket`; both objects stay out of the session."""
        new_run = insert(AgentRun.__table__).values(_new_row(run)).cte("new_run")
        stmt = (
            insert(Ticket.__table__)
            .values(_new_row(ticket))
            .add_cte(new_run)
            .returning(*_TICKET_READ)
        )
        row = (await self.session.execute(stmt)).one()
        for key, value in row._mapping.items():
            set_committed_value(ticket, key, value)

    async def get(self, ticket_id: uuid.UUID, *, for_update: bool = False) -> Ticket | None:
        stmt = select(Ticket).where(Ticket.id == ticket_id)
        if for_update:
            stmt = stmt.with_for_update()
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def get_with_latest(
        self, ticket_id: uuid.UUID
    ) -> tuple[Ticket, Resolution | None, AgentRun | None] | None:
        """The ticket with its latest resolution and latest run, in one query."""
        result = await self.session.execute(_TICKET_WITH_LATEST, {"ticket_id": ticket_id})
        row = result.one_or_none()
        return None if row is None else (row[0], row[1], row[2])

    def _filtered(self, filters: TicketFilters) -> Select[tuple[Ticket]]:
        stmt = select(Ticket).options(*_NOT_SHOWN)
        if filters.owner_id is not None:
            stmt = stmt.where(Ticket.owner_id == filters.owner_id)
        if filters.status is not None:
            stmt = stmt.where(Ticket.status == filters.status)
        if filters.category is not None:
            stmt = stmt.where(Ticket.category == filters.category)
        if filters.priority is not None:
            stmt = stmt.where(Ticket.priority == filters.priority)
        if filters.assignee_id is not None:
            stmt = stmt.where(Ticket.assignee_id == filters.assignee_id)
        if filters.q:
            stmt = stmt.where(
                Ticket.search_tsv.op("@@")(func.websearch_to_tsquery("english", filters.q))
            )
        return stmt

    async def list(
        self, filters: TicketFilters, page: PageRequest, *, escalated_first: bool = False
    ) -> Page[Ticket]:
        stmt = self._filtered(filters)
        total = await self.session.scalar(select(func.count()).select_from(stmt.subquery()))
        order = [Ticket.created_at.desc(), Ticket.id.desc()]
        if escalated_first:  # false sorts before true: escalated tickets come first
            order.insert(0, ESCALATED_LAST)
        rows = await self.session.scalars(
            stmt.order_by(*order).offset(page.offset).limit(page.page_size)
        )
        return Page(list(rows), total or 0, page.page, page.page_size)

    async def count_by_status(self, filters: TicketFilters) -> dict[TicketStatus, int]:
        """How many tickets match the filters in each status (the filters' own status aside)."""
        stmt = self._filtered(replace(filters, status=None)).subquery()
        rows = await self.session.execute(
            select(stmt.c.status, func.count()).group_by(stmt.c.status)
        )
        return {status: count for status, count in rows.tuples()}


class CommentRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, comment: TicketComment) -> TicketComment:
        self.session.add(comment)
        await self.session.flush()
        return comment

    async def list_for(
        self, ticket_id: uuid.UUID, *, include_internal: bool, page: PageRequest
    ) -> Page[TicketComment]:
        stmt = select(TicketComment).where(TicketComment.ticket_id == ticket_id)
        if not include_internal:
            stmt = stmt.where(TicketComment.internal.is_(False))
        total = await self.session.scalar(select(func.count()).select_from(stmt.subquery()))
        rows = await self.session.scalars(
            stmt.order_by(TicketComment.created_at, TicketComment.id)
            .offset(page.offset)
            .limit(page.page_size)
        )
        return Page(list(rows), total or 0, page.page, page.page_size)


class ResolutionRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def latest_for(self, ticket_id: uuid.UUID) -> Resolution | None:
        stmt = (
            select(Resolution)
            .where(Resolution.ticket_id == ticket_id)
            .order_by(Resolution.version.desc())
            .limit(1)
        )
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def all_for(self, ticket_id: uuid.UUID) -> list[Resolution]:
        """Every version, latest first."""
        stmt = (
            select(Resolution)
            .where(Resolution.ticket_id == ticket_id)
            .order_by(Resolution.version.desc())
        )
        return list(await self.session.scalars(stmt))

    async def for_run(self, run_id: uuid.UUID) -> Resolution | None:
        stmt = select(Resolution).where(Resolution.run_id == run_id)
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def add_version(self, ticket_id: uuid.UUID, **fields: Any) -> Resolution:
        """Next version for the ticket; the ticket row lock serializes concurrent writers."""
        await self.session.execute(
            text("SELECT 1 FROM tickets WHERE id = :id FOR UPDATE"), {"id": ticket_id}
        )
        current = await self.session.scalar(
            select(func.coalesce(func.max(Resolution.version), 0)).where(
                Resolution.ticket_id == ticket_id
            )
        )
        resolution = Resolution(ticket_id=ticket_id, version=(current or 0) + 1, **fields)
        self.session.add(resolution)
        await self.session.flush()
        return resolution
