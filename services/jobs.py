"""Deferring jobs on procrastinate, in the caller's transaction.

A run's job is inserted on the same connection and in the same transaction as its
`agent_runs` row (and its ticket): both commit or neither does, so a ticket never waits for
a job that was not queued, and a job never points to a row that was rolled back.
"""

from __future__ import annotations

import uuid
from typing import Any

import procrastinate
from sqlalchemy.ext.asyncio import AsyncSession

from core.models import AgentRun, Document
from core.repositories.runs import RunRepository

RUN_TASK = "inferra.run_agent"
INGEST_TASK = "inferra.ingest_document"
SWEEP_TASK = "inferra.retry_stalled_jobs"
SEARCH_STATS_TASK = "inferra.refresh_search_stats"
MAINTENANCE_TASKS = (SWEEP_TASK, SEARCH_STATS_TASK)  # periodic: not counted as work done
RUNS_QUEUE = "runs"
DOCUMENTS_QUEUE = "documents"
MAINTENANCE_PRIORITY = 1_000_000  # before any run, however long the queue


async def _connection(session: AsyncSession) -> Any:
    """The psycopg connection under the session's transaction."""
    connection = await session.connection()
    raw = await connection.get_raw_connection()
    return raw.driver_connection


async def defer_run(
    session: AsyncSession, jobs: procrastinate.App, run: AgentRun, *, waiting: int | None = None
) -> int:
    """Queue a run's job; returns the job's id. Fair scheduling: a run's priority is minus the
    number of runs its requester already has waiting (`waiting`, counted here when not given),
    so one requester's flood never starves another's ticket. The run's row may be inserted
    after its job, in the same transaction (one round trip less: its job id goes in with it)."""
    if waiting is None:
        # The run's row is flushed already: it counts itself.
        waiting = max(await RunRepository(session).queued_count_for(run.requested_by) - 1, 0)
    deferrer = jobs.configure_task(
        RUN_TASK,
        queue=RUNS_QUEUE,
        lock=f"ticket:{run.ticket_id}",  # one run of a ticket executes at a time
        priority=run_priority(waiting),
        connection=await _connection(session),
    )
    # No queueing lock, hence no savepoint: the insert cannot be refused (one active run per
    # ticket is checked by the verbs on the locked ticket row; the job lock orders executions).
    run.job_id = await deferrer.defer_async(run_id=str(run.id))
    return run.job_id


def run_priority(waiting: int) -> int:
    """Higher runs first: the fewer runs a requester has waiting, the sooner theirs."""
    return -waiting


async def defer_ingest(session: AsyncSession, jobs: procrastinate.App, document: Document) -> None:
    deferrer = jobs.configure_task(
        INGEST_TASK,
        queue=DOCUMENTS_QUEUE,
        lock=f"document:{document.filename}",  # uploads of one name are ingested in order
        connection=await _connection(session),
    )
    await deferrer.defer_async(document_id=str(document.id))


async def cancel(jobs: procrastinate.App, job_id: int) -> bool:
    """Cancel a job that no worker has taken yet."""
    return await jobs.job_manager.cancel_job_by_id_async(job_id)


def attempt_token(job_id: int | None, attempts: int) -> str:
    """Names one execution attempt of a job (fencing token for the domain record)."""
    return f"job{job_id}.{attempts}:{uuid.uuid4().hex[:8]}"
