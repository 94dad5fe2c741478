"""Tickets API: create (queues a run), list/filter, read with latest resolution, staff updates,
comments, and manual re-runs (llm/resolve_ticket)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, status

from api.deps import CurrentUser, PageDep, RuntimeDep, SessionDep, SupportUser
from api.schemas import ERROR_RESPONSES, PageOut, Text
from api.tickets.schemas import (
    CommentCreate,
    CommentRead,
    RunQueued,
    TicketCreate,
    TicketCreated,
    TicketForRequester,
    TicketForStaff,
    TicketRead,
    TicketUpdate,
)
from core.models import Category, Priority, TicketStatus
from services import tickets

router = APIRouter(prefix="/tickets", tags=["tickets"], responses=ERROR_RESPONSES)
llm_router = APIRouter(prefix="/llm", tags=["agent"], responses=ERROR_RESPONSES)


@router.post("", status_code=status.HTTP_201_CREATED, response_model=TicketCreated)
async def create_ticket(
    body: TicketCreate, user: CurrentUser, session: SessionDep, runtime: RuntimeDep
) -> TicketCreated:
    ticket, run = await tickets.create(
        session=session,
        runtime=runtime,
        owner=user,
        title=body.title,
        description=body.description,
        category_hint=body.category_hint,
    )
    return TicketCreated(ticket=TicketRead.model_validate(ticket), run_id=run.id)


@router.get("", response_model=PageOut[TicketRead])
async def list_tickets(
    user: CurrentUser,
    session: SessionDep,
    page: PageDep,
    status_: Annotated[TicketStatus | None, Query(alias="status")] = None,
    category: Category | None = None,
    priority: Priority | None = None,
    assignee_id: uuid.UUID | None = None,
    q: Annotated[Text | None, Query(max_length=200, description="full-text search")] = None,
) -> PageOut[TicketRead]:
    result = await tickets.list_visible(
        session=session,
        user=user,
        page=page,
        status=status_,
        category=category,
        priority=priority,
        assignee_id=assignee_id,
        text=q,
    )
    return PageOut.of(result, TicketRead)


@router.get("/{ticket_id}", response_model=TicketForStaff | TicketForRequester)
async def get_ticket(
    ticket_id: uuid.UUID, user: CurrentUser, session: SessionDep
) -> TicketForStaff | TicketForRequester:
    """Staff get every source with its link; the owner gets the requester's view (another
    user's ticket is only "a similar resolved ticket")."""
    view = await tickets.view(session=session, user=user, ticket_id=ticket_id)
    shape = TicketForStaff if user.is_staff else TicketForRequester
    return shape.model_validate(
        {
            **TicketRead.model_validate(view.ticket).model_dump(),
            "latest_resolution": view.latest_resolution,
            "latest_run": view.latest_run,
        },
        from_attributes=True,
    )


@router.patch("/{ticket_id}", response_model=TicketRead)
async def update_ticket(
    ticket_id: uuid.UUID,
    body: TicketUpdate,
    staff: SupportUser,
    session: SessionDep,
    runtime: RuntimeDep,
) -> TicketRead:
    ticket = await tickets.update(
        session=session,
        runtime=runtime,
        actor=staff,
        ticket_id=ticket_id,
        status=body.status,
        priority=body.priority,
        assignee_id=body.assignee_id,
        unassign=body.unassign,
    )
    return TicketRead.model_validate(ticket)


@router.post(
    "/{ticket_id}/comments", status_code=status.HTTP_201_CREATED, response_model=CommentRead
)
async def add_comment(
    ticket_id: uuid.UUID,
    body: CommentCreate,
    user: CurrentUser,
    session: SessionDep,
    runtime: RuntimeDep,
) -> CommentRead:
    comment = await tickets.add_comment(
        session=session,
        runtime=runtime,
        user=user,
        ticket_id=ticket_id,
        body=body.body,
        internal=body.internal,
    )
    return CommentRead.model_validate(comment)


@router.get("/{ticket_id}/comments", response_model=PageOut[CommentRead])
async def list_comments(
    ticket_id: uuid.UUID, user: CurrentUser, session: SessionDep, page: PageDep
) -> PageOut[CommentRead]:
    result = await tickets.comments(session=session, user=user, ticket_id=ticket_id, page=page)
    return PageOut.of(result, CommentRead)


@llm_router.post(
    "/resolve_ticket/{ticket_id}", status_code=status.HTTP_202_ACCEPTED, response_model=RunQueued
)
async def resolve_ticket(
    ticket_id: uuid.UUID, user: CurrentUser, session: SessionDep, runtime: RuntimeDep
) -> RunQueued:
    run = await tickets.request_resolution(
        session=session, runtime=runtime, user=user, ticket_id=ticket_id
    )
    return RunQueued(run_id=run.id, status=run.status)
