"""The requester's portal: my tickets, a new ticket with its run's progress, the answer,
feedback and comments. Staff opening a ticket get the staff view of the same URL."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Form, Query, Request, Response
from fastapi.responses import StreamingResponse
from fastapi.sse import format_sse_event

from api.console.staff import staff_ticket_page
from api.console.web import ConsoleRoute, ConsoleUser, redirect, render
from api.deps import RuntimeDep, SessionDep
from api.schemas import Text
from api.tickets.schemas import ResolutionForRequester
from core.models import Category, FeedbackReason, RunStatus, Verdict
from core.pagination import PageRequest
from core.text import CommentBody, TicketDescription, TicketTitle
from services import feedback, runs, tickets
from services.resources import Runtime

router = APIRouter(prefix="/console", route_class=ConsoleRoute, include_in_schema=False)
PAGE_SIZE = 20
COMMENTS_SHOWN = 100
EVENT_POLL_SECONDS = 0.5
EVENT_STREAM_MAX_SECONDS = 600
ACTIVE = frozenset({RunStatus.queued, RunStatus.running})


@router.get("/tickets")
async def my_tickets(
    request: Request,
    user: ConsoleUser,
    session: SessionDep,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
) -> Response:
    found = await tickets.list_visible(
        session=session, user=user, page=PageRequest(page=page, page_size=PAGE_SIZE)
    )
    return render(request, "my_tickets.html", {"page": found}, user=user)


@router.get("/tickets/new")
async def new_ticket_form(request: Request, user: ConsoleUser) -> Response:
    return render(request, "new_ticket.html", {"categories": list(Category)}, user=user)


@router.post("/tickets")
async def file_ticket(
    request: Request,
    user: ConsoleUser,
    session: SessionDep,
    runtime: RuntimeDep,
    title: Annotated[TicketTitle, Form()],
    description: Annotated[TicketDescription, Form()],
    category: Annotated[Category | None, Form()] = None,
) -> Response:
    ticket, _ = await tickets.create(
        session=session,
        runtime=runtime,
        owner=user,
        title=title,
        description=description,
        category_hint=category,
    )
    return redirect(request, f"/console/tickets/{ticket.id}")


@router.get("/tickets/{ticket_id}")
async def ticket_page(
    request: Request, ticket_id: uuid.UUID, user: ConsoleUser, session: SessionDep
) -> Response:
    if user.is_staff:  # the staff view of the same URL
        return await staff_ticket_page(request, ticket_id, user, session)
    view = await tickets.view(session=session, user=user, ticket_id=ticket_id)
    comments = await tickets.comments(
        session=session, user=user, ticket_id=ticket_id, page=PageRequest(1, COMMENTS_SHOWN)
    )
    resolution = (
        ResolutionForRequester.model_validate(view.latest_resolution)
        if view.latest_resolution
        else None
    )
    context = {
        "ticket": view.ticket,
        "run": view.latest_run,
        "running": view.latest_run is not None and view.latest_run.status in ACTIVE,
        "resolution": resolution,
        "comments": comments.items,
        "reasons": list(FeedbackReason),
    }
    return render(request, "ticket_requester.html", context, user=user)


@router.post("/tickets/{ticket_id}/feedback")
async def give_feedback(
    request: Request,
    ticket_id: uuid.UUID,
    user: ConsoleUser,
    session: SessionDep,
    runtime: RuntimeDep,
    resolution_id: Annotated[uuid.UUID, Form()],
    verdict: Annotated[Verdict, Form()],
    reason: Annotated[FeedbackReason | None, Form()] = None,
    comment: Annotated[Text | None, Form(max_length=2000)] = None,
) -> Response:
    await feedback.give(
        session=session,
        runtime=runtime,
        user=user,
        resolution_id=resolution_id,
        verdict=verdict,
        reason=reason if verdict is Verdict.not_helpful else None,
        comment=comment or None,
    )
    return redirect(request, f"/console/tickets/{ticket_id}?feedback=thanks")


@router.post("/tickets/{ticket_id}/comments")
async def add_comment(
    request: Request,
    ticket_id: uuid.UUID,
    user: ConsoleUser,
    session: SessionDep,
    runtime: RuntimeDep,
    body: Annotated[CommentBody, Form()],
    internal: Annotated[bool, Form()] = False,
) -> Response:
    await tickets.add_comment(
        session=session,
        runtime=runtime,
        user=user,
        ticket_id=ticket_id,
        body=body,
        internal=internal,
    )
    return redirect(request, f"/console/tickets/{ticket_id}#comments")


@router.get("/runs/{run_id}/events")
async def run_events(
    request: Request, run_id: uuid.UUID, user: ConsoleUser, session: SessionDep, runtime: RuntimeDep
) -> StreamingResponse:
    """The run's progress for its ticket's owner or staff: each finished step, then `end`
    (the page then reloads to show the answer). Read from the checkpoints, as the API's SSE."""
    run = await runs.get_run(session=session, user=user, run_id=run_id)
    return StreamingResponse(
        _step_events(run.id, runtime, request),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


def _event(name: str, data: dict[str, object]) -> bytes:
    return format_sse_event(data_str=json.dumps(data), event=name)


async def _step_events(
    run_id: uuid.UUID, runtime: Runtime, request: Request
) -> AsyncIterator[bytes]:
    sent = 0
    deadline = time.monotonic() + EVENT_STREAM_MAX_SECONDS
    while time.monotonic() < deadline and not await request.is_disconnected():
        run, steps, _ = await runs.progress(runtime=runtime, run_id=run_id)
        finished = [s for s in steps if s["status"] in ("done", "failed")]
        for step in finished[sent:]:
            yield _event("step", {"node": step["node"], "status": step["status"]})
        sent = len(finished)
        if run.status not in ACTIVE:
            yield _event("end", {"status": run.status.value})
            return
        await asyncio.sleep(EVENT_POLL_SECONDS)
    yield _event("timeout", {})
