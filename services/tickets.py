"""Tickets: who sees what, staff updates through the status rules, runs queued with their
ticket (in its transaction), comments."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING

import structlog

from core import ticket_rules
from core.errors import Conflict, Forbidden, InferraError, NotFound
from core.history import accept_resolution
from core.models import (
    AgentRun,
    Category,
    Priority,
    Resolution,
    Role,
    RunStatus,
    RunTrigger,
    Ticket,
    TicketComment,
    TicketStatus,
    User,
)
from core.pagination import Page, PageRequest
from core.repositories.runs import RunRepository
from core.repositories.tickets import (
    CommentRepository,
    ResolutionRepository,
    TicketFilters,
    TicketRepository,
)
from core.repositories.users import UserRepository
from core.text import CommentBody, TicketDescription, TicketTitle, checked
from services import jobs, quotas

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from services.resources import Runtime

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class TicketView:
    ticket: Ticket
    latest_resolution: Resolution | None
    latest_run: AgentRun | None


async def get_visible(*, session: AsyncSession, user: User, ticket_id: uuid.UUID) -> Ticket:
    """The ticket if the caller may see it; 404 otherwise (never reveal that it exists)."""
    ticket = await TicketRepository(session).get(ticket_id)
    if ticket is None or not _may_see(user, ticket):
        raise NotFound("Ticket not found")
    return ticket


def _may_see(user: User, ticket: Ticket) -> bool:
    return user.is_staff or ticket.owner_id == user.id


async def view(*, session: AsyncSession, user: User, ticket_id: uuid.UUID) -> TicketView:
    found = await TicketRepository(session).get_with_latest(ticket_id)
    if found is None or not _may_see(user, found[0]):
        raise NotFound("Ticket not found")
    return TicketView(*found)


async def list_visible(
    *,
    session: AsyncSession,
    user: User,
    page: PageRequest,
    status: TicketStatus | None = None,
    category: Category | None = None,
    priority: Priority | None = None,
    assignee_id: uuid.UUID | None = None,
    text: str | None = None,
    escalated_first: bool = False,
) -> Page[Ticket]:
    """Requesters see their own tickets, staff all of them."""
    filters = _visible_filters(user, status, category, priority, assignee_id, text)
    return await TicketRepository(session).list(filters, page, escalated_first=escalated_first)


async def count_by_status(
    *,
    session: AsyncSession,
    user: User,
    category: Category | None = None,
    priority: Priority | None = None,
    assignee_id: uuid.UUID | None = None,
    text: str | None = None,
) -> dict[TicketStatus, int]:
    """The visible tickets matching the other filters, counted per status (a queue's tabs)."""
    filters = _visible_filters(user, None, category, priority, assignee_id, text)
    counts = await TicketRepository(session).count_by_status(filters)
    return {status: counts.get(status, 0) for status in TicketStatus}


async def resolutions(
    *, session: AsyncSession, user: User, ticket_id: uuid.UUID
) -> list[Resolution]:
    """Every resolution version of a visible ticket, latest first."""
    ticket = await get_visible(session=session, user=user, ticket_id=ticket_id)
    return await ResolutionRepository(session).all_for(ticket.id)


def _visible_filters(
    user: User,
    status: TicketStatus | None,
    category: Category | None,
    priority: Priority | None,
    assignee_id: uuid.UUID | None,
    text: str | None,
) -> TicketFilters:
    return TicketFilters(
        owner_id=None if user.is_staff else user.id,
        status=status,
        category=category,
        priority=priority,
        assignee_id=assignee_id,
        q=text.strip() if text and text.strip() else None,
    )


async def create(
    *,
    session: AsyncSession,
    runtime: Runtime,
    owner: User,
    title: str,
    description: str,
    category_hint: Category | None = None,
) -> tuple[Ticket, AgentRun]:
    title = checked("title", TicketTitle, title)
    description = checked("description", TicketDescription, description)
    counts = await quotas.enforce(
        session=session, settings=runtime.settings, user=owner, action=quotas.Action.new_ticket
    )
    # Ids made here, so that the job goes first and the ticket and its run follow, the run
    # with its job id: no UPDATE, no re-read (the ticket's server defaults come back with its
    # INSERT).
    ticket = Ticket(
        id=uuid.uuid4(),
        owner_id=owner.id,
        title=title,
        description=description,
        category_hint=category_hint,
        status=TicketStatus.open,
    )
    run = AgentRun(
        id=uuid.uuid4(),
        ticket_id=ticket.id,
        trigger=RunTrigger.auto,
        requested_by=owner.id,
        status=RunStatus.queued,
    )
    waiting = counts.queued_runs if counts is not None else None
    if waiting is None:  # staff: no quota counted the runs
        waiting = await RunRepository(session).queued_count_for(owner.id)
    await jobs.defer_run(session, runtime.jobs, run, waiting=waiting)
    await TicketRepository(session).add_with_run(ticket, run)
    log.info("ticket_created", ticket_id=str(ticket.id), run_id=str(run.id))
    return ticket, run


async def request_resolution(
    *, session: AsyncSession, runtime: Runtime, user: User, ticket_id: uuid.UUID
) -> AgentRun:
    """A manual re-run; one active run per ticket (409 with its id otherwise)."""
    await quotas.enforce(
        session=session, settings=runtime.settings, user=user, action=quotas.Action.manual_run
    )
    ticket = await get_visible(session=session, user=user, ticket_id=ticket_id)
    await TicketRepository(session).get(ticket.id, for_update=True)  # one request at a time
    runs = RunRepository(session)
    active = await runs.active_for_ticket(ticket.id)
    if active is not None:
        raise Conflict(
            "A run for this ticket is already queued or running",
            code="run_in_progress",
            details={"run_id": str(active)},
        )
    run = await runs.add(ticket.id, RunTrigger.manual, requested_by=user.id)
    await jobs.defer_run(session, runtime.jobs, run)
    log.info("run_requested", ticket_id=str(ticket.id), run_id=str(run.id))
    return run


async def update(
    *,
    session: AsyncSession,
    runtime: Runtime,
    actor: User,
    ticket_id: uuid.UUID,
    status: TicketStatus | None = None,
    priority: Priority | None = None,
    assignee_id: uuid.UUID | None = None,
    unassign: bool = False,
) -> Ticket:
    ticket = await TicketRepository(session).get(ticket_id, for_update=True)
    if ticket is None:
        raise NotFound("Ticket not found")
    if status is not None and status != ticket.status:
        ticket_rules.check_transition(ticket.status, status)
        if ticket_rules.accepts_resolution_on(ticket.status, status):
            await _accept_latest_resolution(session, runtime, ticket)
        if status not in ticket_rules.AGENT_WORKABLE:  # staff settled it themselves
            ended = await RunRepository(session).end_waiting_for_staff(
                ticket.id, f"ticket {status.value} by {actor.email} while the run waited for staff"
            )
            if ended:
                log.info("handoff_runs_ended", ticket_id=str(ticket.id), runs=len(ended))
        ticket.status = status
    if priority is not None:
        ticket.priority = priority
    if assignee_id is not None:
        assignee = await UserRepository(session).get(assignee_id)
        if assignee is None or not assignee.is_active or assignee.role is Role.user:
            raise InferraError(
                "The assignee must be an active support or admin user",
                code="invalid_assignee",
                status_code=422,
            )
        ticket.assignee_id = assignee_id
    if unassign:
        ticket.assignee_id = None
    await session.flush()
    await session.refresh(ticket)
    log.info("ticket_updated", ticket_id=str(ticket.id), actor_id=str(actor.id))
    return ticket


async def _accept_latest_resolution(
    session: AsyncSession, runtime: Runtime, ticket: Ticket
) -> None:
    """Closing a resolved ticket accepts its latest resolution: it becomes retrieval evidence."""
    latest = await ResolutionRepository(session).latest_for(ticket.id)
    if latest is not None:
        await accept_resolution(session, runtime.embedder, ticket, latest)


async def add_comment(
    *,
    session: AsyncSession,
    runtime: Runtime,
    user: User,
    ticket_id: uuid.UUID,
    body: str,
    internal: bool,
) -> TicketComment:
    body = checked("body", CommentBody, body)
    await quotas.enforce(
        session=session, settings=runtime.settings, user=user, action=quotas.Action.comment
    )
    ticket = await get_visible(session=session, user=user, ticket_id=ticket_id)
    if internal and not user.is_staff:
        raise Forbidden("Only support staff can write internal comments")
    embedding = (await runtime.embedder.embed_documents([body]))[0]
    return await CommentRepository(session).add(
        TicketComment(
            ticket_id=ticket.id,
            author_id=user.id,
            body=body,
            internal=internal,
            embedding=embedding,
        )
    )


async def comments(
    *, session: AsyncSession, user: User, ticket_id: uuid.UUID, page: PageRequest
) -> Page[TicketComment]:
    ticket = await get_visible(session=session, user=user, ticket_id=ticket_id)
    return await CommentRepository(session).list_for(
        ticket.id, include_internal=user.is_staff, page=page
    )
