"""Runs: what staff do with them (inspect, replay, fork, resume, cancel) and what a worker does
with a run's job (the one run lifecycle). No graph executes inside an HTTP request: every verb
that continues a run records what to do and queues the run's job."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import structlog

from agent import runner
from agent import steps as run_steps
from agent.nodes.validate import check_draft
from agent.schemas import DraftResolution, HumanDecision
from core.errors import Conflict, InferraError, NotFound
from core.models import AgentRun, Resolution, RunStatus, RunTrigger, User
from core.repositories.runs import RunRepository
from core.repositories.tickets import ResolutionRepository, TicketRepository
from services import jobs, quotas
from services.tickets import get_visible

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from services.resources import Runtime

log = structlog.get_logger(__name__)
FINAL = frozenset({RunStatus.succeeded, RunStatus.failed, RunStatus.interrupted})


# --- Staff verbs -------------------------------------------------------------------------------


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


async def runs_of_ticket(
    *, session: AsyncSession, user: User, ticket_id: uuid.UUID
) -> list[AgentRun]:
    ticket = await get_visible(session=session, user=user, ticket_id=ticket_id)
    return await RunRepository(session).list_for_ticket(ticket.id)


async def steps_of(*, runtime: Runtime, run_id: uuid.UUID) -> list[dict[str, Any]]:
    """The run's steps from its checkpoints (node, timings, state changes)."""
    return run_steps.steps_from(await run_steps.history(runtime.graph, str(run_id)))


async def progress(
    *, runtime: Runtime, run_id: uuid.UUID
) -> tuple[AgentRun, list[dict[str, Any]], Resolution | None]:
    """The run now, its steps, and its resolution once it has one (for live progress)."""
    async with runtime.sessionmaker() as session:
        run = await RunRepository(session).get(run_id)
        if run is None:
            raise NotFound("Run not found")
        resolution = await ResolutionRepository(session).for_run(run.id)
    return run, await steps_of(runtime=runtime, run_id=run_id), resolution


def _patched(patch: dict[str, Any], ticket: dict[str, Any]) -> dict[str, Any]:
    values = {k: v for k, v in patch.items() if k != "ticket" and v is not None}
    if patch.get("ticket"):
        values["ticket"] = {**ticket, **{k: v for k, v in patch["ticket"].items() if v}}
    return values


async def start_from_checkpoint(
    *,
    session: AsyncSession,
    runtime: Runtime,
    user: User,
    run_id: uuid.UUID,
    checkpoint_id: str,
    patch: dict[str, Any] | None = None,
) -> AgentRun:
    """A new run (replay, or fork with edited state) from a checkpoint of an existing one: never
    overwrites the parent, which stays listed with its resolution."""
    await quotas.enforce(
        session=session, settings=runtime.settings, user=user, action=quotas.Action.branch_run
    )
    parent = await get_run(session=session, user=user, run_id=run_id)
    try:
        start = await runner.fork_input(runtime.graph, parent.id, checkpoint_id)
    except LookupError:
        raise NotFound("Checkpoint not found in this run") from None
    except ValueError:
        raise Conflict(
            "That is the run's final checkpoint: nothing follows it", code="nothing_to_replay"
        ) from None
    trigger = RunTrigger.fork if patch is not None else RunTrigger.replay
    run = await RunRepository(session).add(
        parent.ticket_id,
        trigger,
        requested_by=user.id,
        parent_run_id=parent.id,
        parent_checkpoint_id=checkpoint_id,
        state_patch=_patched(patch, start["ticket"]) if patch is not None else None,
    )
    await jobs.defer_run(session, runtime.jobs, run)
    log.info(
        "run_branched",
        parent_run_id=str(parent.id),
        run_id=str(run.id),
        trigger=trigger.value,
        checkpoint_id=checkpoint_id,
    )
    return run


async def _checked_decision(
    runtime: Runtime, run: AgentRun, decision: HumanDecision
) -> tuple[HumanDecision, str]:
    """The decision if it can apply to the run's interrupt, and the checkpoint it answers."""
    snapshot = await runtime.graph.aget_state(runner.thread_config(run.id))
    if not snapshot.interrupts:
        raise Conflict("This run is not waiting for staff", code="not_interrupted")
    draft = decision.resolution.model_dump() if decision.resolution is not None else None
    if decision.action == "edit" and draft is None:
        raise InferraError("An edit needs a resolution", code="validation_error", status_code=422)
    if decision.action == "approve":
        draft = snapshot.values.get("draft")
        if draft is None:
            raise Conflict("There is no draft to approve; edit instead", code="no_draft")
        if not draft.get("solutions"):
            raise Conflict(
                "The draft proposes no solution, so approving it would resolve the ticket with a "
                "non-answer: edit it into an answer (action edit), reject it (the ticket stays "
                "with staff), or close the ticket with a comment",
                code="no_solution",
            )
    if draft is not None:
        errors = check_draft(
            {**snapshot.values, "draft": draft, "draft_error": None},
            by_staff=decision.action == "edit",
            as_answer=True,
        )
        if errors:
            raise InferraError(
                "The resolution is not valid",
                code="invalid_resolution",
                status_code=422,
                details=errors,
            )
    return decision, snapshot.config["configurable"]["checkpoint_id"]


async def request_resume(
    *,
    session: AsyncSession,
    runtime: Runtime,
    user: User,
    run_id: uuid.UUID,
    action: str,
    resolution: DraftResolution | None = None,
    note: str | None = None,
) -> AgentRun:
    """Record staff's decision on a handed-off run and queue it; a worker applies it.
    Exactly one of concurrent decisions wins: the run row is locked and must be interrupted."""
    run = await get_run(session=session, user=user, run_id=run_id)
    decision = HumanDecision(action=action, resolution=resolution, note=note, by=str(user.id))
    decision, checkpoint_id = await _checked_decision(runtime, run, decision)
    locked = await RunRepository(session).get(run_id, for_update=True)
    if locked is None or locked.status is not RunStatus.interrupted:
        raise Conflict(
            "This run is not waiting for staff (already resumed?)", code="not_interrupted"
        )
    locked.status = RunStatus.queued
    locked.attempts = 0  # the crash budget counts per job: this is a new one
    locked.pending_decision = {
        "checkpoint_id": checkpoint_id,
        "decision": decision.model_dump(mode="json"),
    }
    await session.flush()
    await jobs.defer_run(session, runtime.jobs, locked)
    log.info("run_resume_queued", run_id=str(run_id), action=action, actor_id=str(user.id))
    return locked


async def cancel(
    *, session: AsyncSession, runtime: Runtime, user: User, run_id: uuid.UUID
) -> AgentRun:
    """Cancel a queued run (no worker has taken it yet)."""
    await get_run(session=session, user=user, run_id=run_id)
    run = await RunRepository(session).get(run_id, for_update=True)
    if run is None or run.status is not RunStatus.queued or run.job_id is None:
        raise Conflict("Only a queued run can be cancelled", code="not_queued")
    if not await jobs.cancel(runtime.jobs, run.job_id):
        raise Conflict("A worker has already taken this run", code="not_queued")
    run.status, run.error = RunStatus.failed, f"cancelled by {user.email}"
    run.finished_at = datetime.now(UTC)
    await session.flush()
    log.info("run_cancelled", run_id=str(run_id), actor_id=str(user.id))
    return run


# --- The run lifecycle (a worker executing a run's job) -----------------------------------------


async def execute_job(runtime: Runtime, run_id: uuid.UUID, *, token: str, last_try: bool) -> None:
    """Take the run (fenced by `token`), advance its graph from its last checkpoint (or apply
    staff's pending decision), and record the outcome if the run is still ours.

    Raises to have the job retried, unless this is its last try: then the run fails."""
    async with runtime.sessionmaker.begin() as session:
        run = await RunRepository(session).start_attempt(run_id, token)
    if run is None:
        log.info("run_already_over", run_id=str(run_id))
        return
    structlog.contextvars.bind_contextvars(run_id=str(run.id), ticket_id=str(run.ticket_id))
    try:
        if run.attempts > runtime.settings.job_max_attempts:
            raise RuntimeError(
                f"gave up after {runtime.settings.job_max_attempts} attempts (worker crashes?)"
            )
        log.info("run_started", attempt=run.attempts, trigger=run.trigger.value)
        outcome = await _advance(runtime, run)
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}"[:2000]
        log.exception("run_attempt_failed", last_try=last_try)
        if last_try or run.attempts > runtime.settings.job_max_attempts:
            await record(runtime, run.id, token, RunStatus.failed, error=error)
            return
        async with runtime.sessionmaker.begin() as session:
            await RunRepository(session).requeue(run.id, token, error)
        raise
    else:
        await record(
            runtime,
            run.id,
            token,
            outcome.status,
            model=outcome.model,
            skipped_steps=outcome.skipped,
        )
    finally:
        structlog.contextvars.unbind_contextvars("run_id", "ticket_id")


async def record(
    runtime: Runtime, run_id: uuid.UUID, token: str, status: RunStatus, **fields: Any
) -> None:
    """The attempt `token`'s outcome, if the run is still its own."""
    async with runtime.sessionmaker.begin() as session:
        recorded = await RunRepository(session).finish(run_id, token, status, **fields)
    if recorded:
        log.info("run_finished", status=status.value)
    else:  # another attempt took the run over (this worker stalled): its outcome stands
        log.warning("late_finish_refused", status=status.value)


async def _advance(runtime: Runtime, run: AgentRun) -> runner.RunOutcome:
    graph, context = runtime.graph, runtime.agent
    pending = run.pending_decision
    if pending is not None:
        snapshot = await graph.aget_state(runner.thread_config(run.id))
        at = snapshot.config["configurable"]["checkpoint_id"] if snapshot.config else None
        if snapshot.interrupts and at == pending["checkpoint_id"]:
            decision = HumanDecision.model_validate(pending["decision"])
            return await runner.resume(graph, context, run.id, decision)
        # else the decision was applied before a crash: go on from the last checkpoint
    return await runner.execute(graph, context, run.id, await _start_input(runtime, run))


async def _start_input(runtime: Runtime, run: AgentRun) -> dict[str, Any]:
    if run.parent_run_id and run.parent_checkpoint_id:
        return await runner.fork_input(
            runtime.graph, run.parent_run_id, run.parent_checkpoint_id, run.state_patch
        )
    async with runtime.sessionmaker() as session:
        ticket = await TicketRepository(session).get(run.ticket_id)
    if ticket is None:
        raise RuntimeError("ticket no longer exists")
    return runner.ticket_input(ticket)
