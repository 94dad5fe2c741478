"""Runs API: a ticket's runs, a run's steps, live progress (SSE), replay, fork, resume, cancel."""

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
from sqlalchemy.ext.asyncio import AsyncSession

from api.deps import CurrentUser, RuntimeDep, SessionDep, SupportUser
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
from api.tickets.schemas import ResolutionForStaff
from core.models import AgentRun, User
from services import runs
from services.resources import Runtime

router = APIRouter(tags=["runs"], responses=ERROR_RESPONSES)

EVENT_POLL_SECONDS = 0.25
EVENT_STREAM_MAX_SECONDS = 600


@router.get("/tickets/{ticket_id}/runs", response_model=list[RunRead] | list[RunPublic])
async def list_ticket_runs(
    ticket_id: uuid.UUID, user: CurrentUser, session: SessionDep
) -> list[RunRead] | list[RunPublic]:
    found = await runs.runs_of_ticket(session=session, user=user, ticket_id=ticket_id)
    shape = RunRead if user.is_staff else RunPublic  # owners do not see internals
    return [shape.model_validate(r) for r in found]


@router.get("/runs/{run_id}", response_model=RunDetail)
async def get_run(
    run_id: uuid.UUID, staff: SupportUser, session: SessionDep, runtime: RuntimeDep
) -> RunDetail:
    run = await runs.get_run(session=session, user=staff, run_id=run_id)
    steps = await runs.steps_of(runtime=runtime, run_id=run.id)
    return RunDetail(
        **RunRead.model_validate(run).model_dump(),
        steps=[Step.model_validate(s) for s in steps],
    )


@router.get(
    "/runs/{run_id}/events",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}, "description": "SSE stream"}},
)
async def run_events(
    run_id: uuid.UUID,
    staff: SupportUser,
    session: SessionDep,
    runtime: RuntimeDep,
    request: Request,
) -> StreamingResponse:
    """Progress as Server-Sent Events (`curl -N`): node_started / node_finished, then `end`.
    Read from the checkpoints, so it works whichever worker process runs the run."""
    run = await runs.get_run(session=session, user=staff, run_id=run_id)
    # A plain StreamingResponse (not FastAPI's generator endpoints): the request's session
    # is committed and closed before streaming starts; the stream uses sessions of its own.
    return StreamingResponse(
        _progress(run.id, runtime, request),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


def _sse(event: str, data: Any, event_id: str | None = None) -> bytes:
    payload = json.dumps(jsonable_encoder(data))
    return format_sse_event(data_str=payload, event=event, id=event_id)


async def _progress(run_id: uuid.UUID, runtime: Runtime, request: Request) -> AsyncIterator[bytes]:
    finished_sent, started_sent = 0, set()
    deadline = time.monotonic() + EVENT_STREAM_MAX_SECONDS
    while time.monotonic() < deadline and not await request.is_disconnected():
        current, all_steps, resolution = await runs.progress(runtime=runtime, run_id=run_id)
        done = [Step.model_validate(s) for s in all_steps if s["status"] in ("done", "failed")]
        for step in done[finished_sent:]:
            yield _sse("node_finished", step.model_dump(mode="json"), f"{step.step}:{step.node}")
        finished_sent = len(done)
        if current.status in runs.FINAL:
            yield _sse("end", _end_event(current, resolution))
            return
        for step in all_steps:
            key = (step["step"], step["node"])
            if step["status"] == "pending" and key not in started_sent:
                started_sent.add(key)
                yield _sse("node_started", {"step": step["step"], "node": step["node"]})
        await asyncio.sleep(EVENT_POLL_SECONDS)
    yield _sse("timeout", {"run_id": str(run_id)})


def _end_event(run: AgentRun, resolution: Any) -> dict[str, Any]:
    return {
        "run_id": str(run.id),
        "status": run.status.value,
        "error": run.error,
        "resolution": ResolutionForStaff.model_validate(resolution).model_dump(mode="json")
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
    runtime: RuntimeDep,
) -> RunQueuedOut:
    """A new run from that checkpoint: the steps after it run again."""
    return await _branch(session, runtime, staff, run_id, body.checkpoint_id, None)


@router.post(
    "/runs/{run_id}/fork", status_code=status.HTTP_202_ACCEPTED, response_model=RunQueuedOut
)
async def fork_run(
    run_id: uuid.UUID,
    body: ForkRequest,
    staff: SupportUser,
    session: SessionDep,
    runtime: RuntimeDep,
) -> RunQueuedOut:
    """A new run from that checkpoint, with staff's edits to the state."""
    patch = body.state_patch.model_dump(mode="json", exclude_none=True)
    return await _branch(session, runtime, staff, run_id, body.checkpoint_id, patch)


async def _branch(
    session: AsyncSession,
    runtime: Runtime,
    staff: User,
    run_id: uuid.UUID,
    checkpoint_id: str,
    patch: dict[str, Any] | None,
) -> RunQueuedOut:
    run = await runs.start_from_checkpoint(
        session=session,
        runtime=runtime,
        user=staff,
        run_id=run_id,
        checkpoint_id=checkpoint_id,
        patch=patch,
    )
    assert run.parent_run_id is not None and run.parent_checkpoint_id is not None
    return RunQueuedOut(
        run_id=run.id,
        status=run.status,
        trigger=run.trigger,
        parent_run_id=run.parent_run_id,
        parent_checkpoint_id=run.parent_checkpoint_id,
    )


@router.post("/runs/{run_id}/resume", status_code=status.HTTP_202_ACCEPTED, response_model=RunRead)
async def resume_run(
    run_id: uuid.UUID,
    body: ResumeRequest,
    staff: SupportUser,
    session: SessionDep,
    runtime: RuntimeDep,
) -> RunRead:
    """Records the decision on a handed-off run and queues it (202); a worker applies it."""
    run = await runs.request_resume(
        session=session,
        runtime=runtime,
        user=staff,
        run_id=run_id,
        action=body.action,
        resolution=body.resolution,
        note=body.note,
    )
    return RunRead.model_validate(run)


@router.post("/runs/{run_id}/cancel", response_model=RunRead)
async def cancel_run(
    run_id: uuid.UUID, staff: SupportUser, session: SessionDep, runtime: RuntimeDep
) -> RunRead:
    """Cancel a run no worker has taken yet (409 once one has)."""
    run = await runs.cancel(session=session, runtime=runtime, user=staff, run_id=run_id)
    return RunRead.model_validate(run)
