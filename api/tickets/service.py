"""Ticket rules: who sees what, valid status transitions, runs queued with their ticket."""

from __future__ import annotations

import uuid

import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import Conflict, Forbidden, InferraError, NotFound
from core.history import accept_resolution
from core.models import (
    AgentRun,
    Role,
    RunStatus,
    RunTrigger,
    Ticket,
    TicketComment,
    TicketStatus,
    User,
)
from core.providers.embeddings import Embedder
from core.repositories.runs import RunRepository
from core.repositories.tickets import CommentRepository, ResolutionRepository, TicketRepository
from core.repositories.users import UserRepository

log = structlog.get_logger(__name__)

S = TicketStatus
TRANSITIONS: dict[TicketStatus, set[TicketStatus]] = {
    S.open: {S.in_progress, S.resolved, S.closed, S.escalated},
    S.in_progress: {S.open, S.resolved, S.closed, S.escalated},
    S.escalated: {S.open, S.in_progress, S.resolved, S.closed},
    S.resolved: {S.open, S.in_progress, S.closed},
    S.closed: {S.open},
}


async def get_visible(*, session: AsyncSession, user: User, ticket_id: uuid.UUID) -> Ticket:
    """The ticket if the caller may see it; 404 otherwise (never reveal that it exists)."""
    ticket = await TicketRepository(session).get(ticket_id)
    if ticket is None or not (user.is_staff or ticket.owner_id == user.id):
        raise NotFound("Ticket not found")
    return ticket


async def create(
    *, session: AsyncSession, owner: User, title: str, description: str, category_hint
) -> tuple[Ticket, AgentRun]:
    ticket = await TicketRepository(session).add(
        Ticket(
            owner_id=owner.id,
            title=title,
            description=description,
            category_hint=category_hint,
            status=TicketStatus.open,
        )
    )
    run = await RunRepository(session).enqueue(ticket.id, RunTrigger.auto, requested_by=owner.id)
    log.info("ticket_created", ticket_id=str(ticket.id), run_id=str(run.id))
    return ticket, run


async def request_resolution(
    *, session: AsyncSession, user: User, ticket_id: uuid.UUID
) -> AgentRun:
    ticket = await get_visible(session=session, user=user, ticket_id=ticket_id)
    await TicketRepository(session).get(ticket.id, for_update=True)  # one request at a time
    active = await session.scalar(
        select(AgentRun.id).where(
            AgentRun.ticket_id == ticket.id,
            AgentRun.status.in_([RunStatus.queued, RunStatus.running]),
        )
    )
    if active is not None:
        raise Conflict(
            "A run for this ticket is already queued or running",
            code="run_in_progress",
            details={"run_id": str(active)},
        )
    run = await RunRepository(session).enqueue(ticket.id, RunTrigger.manual, requested_by=user.id)
    log.info("run_requested", ticket_id=str(ticket.id), run_id=str(run.id))
    return run


async def update(
    *,
    session: AsyncSession,
    actor: User,
    ticket_id: uuid.UUID,
    status: TicketStatus | None,
    priority,
    assignee_id: uuid.UUID | None,
    unassign: bool,
    embedder: Embedder,
) -> Ticket:
    ticket = await TicketRepository(session).get(ticket_id, for_update=True)
    if ticket is None:
        raise NotFound("Ticket not found")
    if status is not None and status != ticket.status:
        if status not in TRANSITIONS[ticket.status]:
            raise InferraError(
                f"A ticket cannot go from {ticket.status.value} to {status.value}",
                code="invalid_transition",
                status_code=409,
                details={"allowed": sorted(s.value for s in TRANSITIONS[ticket.status])},
            )
        if status is TicketStatus.closed and ticket.status is TicketStatus.resolved:
            await _accept_latest_resolution(session, ticket, embedder)
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
    session: AsyncSession, ticket: Ticket, embedder: Embedder
) -> None:
    """Closing a resolved ticket accepts its latest resolution: it becomes retrieval evidence."""
    latest = await ResolutionRepository(session).latest_for(ticket.id)
    if latest is not None:
        await accept_resolution(session, embedder, ticket, latest)


async def add_comment(
    *,
    session: AsyncSession,
    user: User,
    ticket_id: uuid.UUID,
    body: str,
    internal: bool,
    embedder: Embedder,
) -> TicketComment:
    ticket = await get_visible(session=session, user=user, ticket_id=ticket_id)
    if internal and not user.is_staff:
        raise Forbidden("Only support staff can write internal comments")
    embedding = (await embedder.embed_documents([body]))[0]
    return await CommentRepository(session).add(
        TicketComment(
            ticket_id=ticket.id,
            author_id=user.id,
            body=body,
            internal=internal,
            embedding=embedding,
        )
    )
