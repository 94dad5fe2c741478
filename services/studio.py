"""Runs started from LangGraph Studio (`langgraph dev`): agent runs like the others (trigger
`studio`), with the same record, fencing and outcome as a worker's. A Studio thread is one run:
its thread id is the run's id, as for every run, so `GET /runs/{id}` reads its steps and staff
can resume it through the runs API as well as from Studio (the run row decides who does)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import structlog

from agent import runner
from core.errors import Conflict, InferraError, NotFound
from core.models import RunStatus, RunTrigger
from core.repositories.runs import RunRepository
from core.repositories.tickets import TicketRepository
from services.runs import record

if TYPE_CHECKING:
    from services.resources import Runtime

log = structlog.get_logger(__name__)


def _ticket_uuid(ticket_id: str) -> uuid.UUID:
    try:
        return uuid.UUID(str(ticket_id))
    except ValueError:
        raise InferraError(
            f"ticket_id must be a ticket's id (a UUID), got {ticket_id!r}",
            code="validation_error",
            status_code=422,
        ) from None


async def open_run(
    *, runtime: Runtime, run_id: uuid.UUID, ticket_id: str, token: str
) -> dict[str, Any]:
    """Record the run of `ticket_id` on the new Studio thread `run_id`, owned by the attempt
    `token`; returns the graph's input for the ticket."""
    async with runtime.sessionmaker.begin() as session:
        ticket = await TicketRepository(session).get(_ticket_uuid(ticket_id))
        if ticket is None:
            raise NotFound(f"Ticket {ticket_id} not found")
        runs = RunRepository(session)
        existing = await runs.get(run_id)
        if existing is not None:
            raise Conflict(
                f"This thread is run {run_id} ({existing.status.value}): one thread is one run. "
                "Start a new thread for a new run; resume a waiting run with "
                'Command(resume={"action": "approve" | "edit" | "reject"})',
                code="thread_has_run",
            )
        if await runs.active_for_ticket(ticket.id) is not None:
            raise Conflict("A run of this ticket is already in progress", code="run_in_progress")
        await runs.add(ticket.id, RunTrigger.studio, id=run_id)
        await runs.start_attempt(run_id, token)
    log.info("run_started", run_id=str(run_id), ticket_id=str(ticket.id), trigger="studio")
    return runner.ticket_input(ticket)


@asynccontextmanager
async def attempt(*, runtime: Runtime, run_id: uuid.UUID, token: str) -> AsyncIterator[None]:
    """One Studio run on the thread `run_id` (the dev server's run id is the attempt's token).

    On a thread whose run waits for staff, this attempt takes the run over (a resume); on a new
    thread, `open_run` records it. Afterwards the outcome is recorded like a worker's: succeeded,
    interrupted (waiting for staff) or failed with the error."""
    async with runtime.sessionmaker.begin() as session:
        runs = RunRepository(session)
        if await runs.get(run_id) is not None:
            if (run := await runs.take_over_interrupted(run_id, token)) is None:
                run = await runs.get(run_id)
                raise Conflict(
                    f"This thread is run {run_id}, {run.status.value if run else 'gone'}: only a "
                    "run waiting for staff can be resumed, and a thread is one run (start a new "
                    "thread for a new run of a ticket)",
                    code="not_interrupted",
                )
            log.info("run_resumed", run_id=str(run_id), trigger="studio")
    try:
        yield
    except BaseException as exc:  # cancelled from Studio too: the run must not stay running
        if await _recorded(runtime, run_id):  # else open_run refused it: there is no run
            await record(runtime, run_id, token, RunStatus.failed, error=_error(exc))
        raise
    outcome = await runner.outcome(runtime.graph, run_id)
    await record(
        runtime, run_id, token, outcome.status, model=outcome.model, skipped_steps=outcome.skipped
    )


async def _recorded(runtime: Runtime, run_id: uuid.UUID) -> bool:
    async with runtime.sessionmaker() as session:
        return await RunRepository(session).get(run_id) is not None


def _error(exc: BaseException) -> str:
    return (f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)[:2000]
