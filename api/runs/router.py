"""Runs API: a ticket's runs, a run's steps, live progress (SSE), replay, fork, resume."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Request, status
from fastapi.encoders import jsonable_encoder
from fastapi.responses import StreamingResponse
from fastapi.sse import format_sse_event

from agent import steps as run_steps
from api.deps import AgentContextDep, CurrentUser, GraphDep, SessionDep, SupportUser
from api.runs import service
from api.runs.schemas import (
    ForkRequest,
    ReplayRequest,
    ResumeRequest,
    RunDetail,
    RunPublic,
    RunQueuedOut,
    RunRead,
    Step,
)
from api.schemas import ERROR_RESPONSES
from api.tickets.schemas import ResolutionRead
from api.tickets.service import get_visible
from core.models import AgentRun, RunStatus
from core.repositories.runs import RunRepository
from core.repositories.tickets import ResolutionRepository

router = APIRouter(tags=["runs"], responses=ERROR_RESPONSES)

FINAL = {RunStatus.succeeded, RunStatus.failed, RunStatus.interrupted}
EVENT_POLL_SECONDS = 0.25
EVENT_STREAM_MAX_SECONDS = 600


@router.get("/tickets/{ticket_id}/runs", response_model=list[RunRead] | list[RunPublic])
async def list_ticket_runs(
    ticket_id: uuid.UUID, user: CurrentUser, session: SessionDep
) -> list[RunRead] | list[RunPublic]:
    ticket = await get_visible(session=session, user=user, ticket_id=ticket_id)
    runs = await RunRepository(session).list_for_ticket(ticket.id)
    shape = RunRead if user.is_staff else RunPublic  # owners do not see internals
    return [shape.model_validate(r) for r in runs]


@router.get("/runs/{run_id}", response_model=RunDetail)
async def get_run(
    run_id: uuid.UUID, staff: SupportUser, session: SessionDep, graph: GraphDep
) -> RunDetail:
    run = await service.get_run(session=session, user=staff, run_id=run_id)
    snapshots = await run_steps.history(graph, str(run.id))
    return RunDetail(
        **RunRead.model_validate(run).model_dump(),
        steps=[Step.model_validate(s) for s in run_steps.steps_from(snapshots)],
    )


@router.get(
    "/runs/{run_id}/events",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}, "description": "SSE stream"}},
)
async def run_events(
    run_id: uuid.UUID, staff: SupportUser, session: SessionDep, graph: GraphDep, request: Request
) -> StreamingResponse:
    """Progress as Server-Sent Events (`curl -N`): node_started / node_finished, then `end`.
    Read from the checkpoints, so it works whichever worker process runs the run."""
    run = await service.get_run(session=session, user=staff, run_id=run_id)
    # A plain StreamingResponse (not FastAPI's generator endpoints): the request's session
    # is committed and closed before streaming starts; the stream uses sessions of its own.
    stream = _progress(run.id, graph, request)
    return StreamingResponse(
        stream,
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


def _sse(event: str, data: Any, event_id: str | None = None) -> bytes:
    payload = json.dumps(jsonable_encoder(data))
    return format_sse_event(data_str=payload, event=event, id=event_id)


async def _progress(run_id: uuid.UUID, graph, request: Request) -> AsyncIterator[bytes]:
    sessionmaker = request.app.state.sessionmaker
    finished_sent, started_sent = 0, set()
    deadline = time.monotonic() + EVENT_STREAM_MAX_SECONDS
    while time.monotonic() < deadline and not await request.is_disconnected():
        async with sessionmaker() as session:
            current = await RunRepository(session).get(run_id)
        all_steps = run_steps.steps_from(await run_steps.history(graph, str(run_id)))
        done = [Step.model_validate(s) for s in all_steps if s["status"] in ("done", "failed")]
        for step in done[finished_sent:]:
            yield _sse("node_finished", step.model_dump(mode="json"), f"{step.step}:{step.node}")
        finished_sent = len(done)
        if current.status in FINAL:
            yield _sse("end", await _end_event(sessionmaker, current))
            return
        for step in all_steps:
            key = (step["step"], step["node"])
            if step["status"] == "pending" and key not in started_sent:
                started_sent.add(key)
                yield _sse("node_started", {"step": step["step"], "node": step["node"]})
        await asyncio.sleep(EVENT_POLL_SECONDS)
    yield _sse("timeout", {"run_id": str(run_id)})


async def _end_event(sessionmaker, run: AgentRun) -> dict:
    async with sessionmaker() as session:
        resolution = await ResolutionRepository(session).for_run(run.id)
    return {
        "run_id": str(run.id),
        "status": run.status.value,
        "error": run.error,
        "resolution": ResolutionRead.model_validate(resolution).model_dump(mode="json")
        if resolution
        else None,
    }


@router.post(
    "/runs/{run_id}/replay", status_code=status.HTTP_202_ACCEPTED, response_model=RunQueuedOut
)
async def replay_run(
    run_id: uuid.UUID,
    body: ReplayRequest,
    staff: SupportUser,
    session: SessionDep,
    graph: GraphDep,
) -> RunQueuedOut:
    run = await service.start_from_checkpoint(
        session=session,
        graph=graph,
        user=staff,
        run_id=run_id,
        checkpoint_id=body.checkpoint_id,
    )
    return _queued(run)


@router.post(
    "/runs/{run_id}/fork", status_code=status.HTTP_202_ACCEPTED, response_model=RunQueuedOut
)
async def fork_run(
    run_id: uuid.UUID,
    body: ForkRequest,
    staff: SupportUser,
    session: SessionDep,
    graph: GraphDep,
) -> RunQueuedOut:
    run = await service.start_from_checkpoint(
        session=session,
        graph=graph,
        user=staff,
        run_id=run_id,
        checkpoint_id=body.checkpoint_id,
        patch=body.state_patch,
    )
    return _queued(run)


@router.post("/runs/{run_id}/resume", response_model=RunRead)
async def resume_run(
    run_id: uuid.UUID,
    body: ResumeRequest,
    staff: SupportUser,
    graph: GraphDep,
    context: AgentContextDep,
    request: Request,
) -> RunRead:
    run = await service.resume(
        sessionmaker=request.app.state.sessionmaker,
        graph=graph,
        context=context,
        user=staff,
        run_id=run_id,
        body=body,
    )
    return RunRead.model_validate(run)


def _queued(run: AgentRun) -> RunQueuedOut:
    return RunQueuedOut(
        run_id=run.id,
        status=run.status,
        trigger=run.trigger,
        parent_run_id=run.parent_run_id,
        parent_checkpoint_id=run.parent_checkpoint_id,
    )
