"""Runs for staff: inspect steps, replay or fork from a checkpoint, resume a handoff."""

from __future__ import annotations

import uuid
from typing import Any

import structlog
from langgraph.graph.state import CompiledStateGraph
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from agent import runner
from agent.context import AgentContext
from agent.nodes.validate import check_draft
from agent.schemas import HumanDecision
from api.runs.schemas import ResumeRequest, StatePatch
from api.tickets.service import get_visible
from core.errors import Conflict, InferraError, NotFound
from core.models import AgentRun, RunStatus, RunTrigger, User
from core.repositories.runs import RunRepository

log = structlog.get_logger(__name__)


async def get_run(*, session: AsyncSession, user: User, run_id: uuid.UUID) -> AgentRun:
    """The run if the caller may see its ticket; 404 otherwise."""
    run = await RunRepository(session).get(run_id)
    if run is None:
        raise NotFound("Run not found")
    try:
        await get_visible(session=session, user=user, ticket_id=run.ticket_id)
    except NotFound:
        raise NotFound("Run not found") from None
    return run


def _patch_values(patch: StatePatch, ticket: dict[str, Any]) -> dict[str, Any]:
    values = patch.model_dump(mode="json", exclude_none=True, exclude={"ticket"})
    if patch.ticket is not None:
        values["ticket"] = {**ticket, **patch.ticket.model_dump(exclude_none=True)}
    return values


async def start_from_checkpoint(
    *,
    session: AsyncSession,
    graph: CompiledStateGraph,
    user: User,
    run_id: uuid.UUID,
    checkpoint_id: str,
    patch: StatePatch | None = None,
) -> AgentRun:
    """A new run (replay, or fork with edits) from a checkpoint of an existing one: never
    overwrites the parent, which stays listed with its resolution."""
    parent = await get_run(session=session, user=user, run_id=run_id)
    try:
        start = await runner.fork_input(graph, parent.id, checkpoint_id)
    except LookupError:
        raise NotFound("Checkpoint not found in this run") from None
    except ValueError:
        raise Conflict(
            "That is the run's final checkpoint: nothing follows it", code="nothing_to_replay"
        ) from None
    trigger = RunTrigger.fork if patch is not None else RunTrigger.replay
    run = await RunRepository(session).enqueue(
        parent.ticket_id,
        trigger,
        requested_by=user.id,
        parent_run_id=parent.id,
        parent_checkpoint_id=checkpoint_id,
        state_patch=_patch_values(patch, start["ticket"]) if patch is not None else None,
    )
    log.info(
        "run_branched",
        parent_run_id=str(parent.id),
        run_id=str(run.id),
        trigger=trigger.value,
        checkpoint_id=checkpoint_id,
    )
    return run


async def _validated_decision(
    graph: CompiledStateGraph, run: AgentRun, body: ResumeRequest, user: User
) -> HumanDecision:
    snapshot = await graph.aget_state(runner.thread_config(run.id))
    if not snapshot.interrupts:
        raise Conflict("This run is not waiting for staff", code="not_interrupted")
    decision = HumanDecision(
        action=body.action, resolution=body.resolution, note=body.note, by=str(user.id)
    )
    draft = body.resolution.model_dump() if body.action == "edit" else None
    if body.action == "edit" and body.resolution is None:
        raise InferraError("An edit needs a resolution", code="validation_error", status_code=422)
    if body.action == "approve":
        draft = snapshot.values.get("draft")
        if draft is None:
            raise Conflict("There is no draft to approve; edit instead", code="no_draft")
    if draft is not None:
        errors = check_draft({**snapshot.values, "draft": draft, "draft_error": None})
        if errors:
            raise InferraError(
                "The resolution is not valid",
                code="invalid_resolution",
                status_code=422,
                details=errors,
            )
    return decision


async def resume(
    *,
    sessionmaker,
    graph: CompiledStateGraph,
    context: AgentContext,
    user: User,
    run_id: uuid.UUID,
    body: ResumeRequest,
) -> AgentRun:
    """Exactly one of concurrent resumes wins: the run row is locked and must be interrupted."""
    async with sessionmaker() as session:
        run = await get_run(session=session, user=user, run_id=run_id)
    decision = await _validated_decision(graph, run, body, user)
    async with sessionmaker.begin() as session:
        locked = await session.scalar(
            select(AgentRun).where(AgentRun.id == run_id).with_for_update()
        )
        if locked is None or locked.status is not RunStatus.interrupted:
            raise Conflict(
                "This run is not waiting for staff (already resumed?)", code="not_interrupted"
            )
        locked.status = RunStatus.running
        locked.worker_id = f"resume:{user.id}"
    try:
        outcome = await runner.resume(graph, context, run_id, decision)
    except Exception as exc:
        async with sessionmaker.begin() as session:
            await RunRepository(session).finish(run_id, RunStatus.failed, error=str(exc)[:2000])
        raise
    async with sessionmaker.begin() as session:
        await RunRepository(session).finish(
            run_id, outcome.status, model=outcome.model, skipped_steps=outcome.skipped
        )
    log.info("run_resumed", run_id=str(run_id), action=body.action, actor_id=str(user.id))
    async with sessionmaker() as session:
        return await RunRepository(session).get(run_id)
