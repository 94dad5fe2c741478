"""The job worker: procrastinate tasks for runs and queued ingests, the sweep that retries the
jobs of stalled workers, and the ways to run a worker (foreground, embedded, drain)."""

from __future__ import annotations

import asyncio
import uuid
from typing import TYPE_CHECKING, Any

import procrastinate
import structlog
from procrastinate import JobContext, RetryStrategy

from core.repositories.jobs import JobRepository
from services import jobs, knowledge_base, runs, search_stats

if TYPE_CHECKING:
    from services.resources import Runtime

log = structlog.get_logger(__name__)
RETRY_BACKOFF_SECONDS = 2  # exponential: 2, 4, 8 ... seconds between attempts


def register_tasks(app: procrastinate.App, runtime_settings: Any) -> None:
    """Every task Inferra runs, on a new job app (serve, worker, evals and tests alike)."""
    retry = RetryStrategy(
        max_attempts=runtime_settings.job_max_attempts - 1, exponential_wait=RETRY_BACKOFF_SECONDS
    )
    app.task(name=jobs.RUN_TASK, queue=jobs.RUNS_QUEUE, pass_context=True, retry=retry)(run_agent)
    app.task(name=jobs.INGEST_TASK, queue=jobs.DOCUMENTS_QUEUE, pass_context=True, retry=retry)(
        ingest_document
    )
    sweep = app.task(name=jobs.SWEEP_TASK, queue=jobs.DOCUMENTS_QUEUE, pass_context=True)(
        retry_stalled_jobs
    )
    app.periodic(
        cron=f"* * * * * */{runtime_settings.worker_sweep_seconds}",
        periodic_id="sweep",
        priority=jobs.MAINTENANCE_PRIORITY,
    )(sweep)
    stats = app.task(name=jobs.SEARCH_STATS_TASK, queue=jobs.DOCUMENTS_QUEUE, pass_context=True)(
        refresh_stale_search_stats
    )
    app.periodic(cron="* * * * *", periodic_id="search-stats", priority=jobs.MAINTENANCE_PRIORITY)(
        stats
    )


def _runtime(context: JobContext) -> Runtime:
    return context.additional_context["runtime"]


def _last_try(context: JobContext) -> bool:
    return context.job.attempts >= _runtime(context).settings.job_max_attempts - 1


async def run_agent(context: JobContext, run_id: str) -> None:
    job = context.job
    await runs.execute_job(
        _runtime(context),
        uuid.UUID(run_id),
        token=jobs.attempt_token(job.id, job.attempts),
        last_try=_last_try(context),
    )


async def ingest_document(context: JobContext, document_id: str) -> None:
    runtime = _runtime(context)
    try:
        await knowledge_base.ingest_queued(runtime, uuid.UUID(document_id))
    except Exception as exc:
        log.exception("document_ingest_crashed", document_id=document_id)
        if not _last_try(context):
            raise  # retried with backoff
        await knowledge_base.fail_queued(
            runtime, uuid.UUID(document_id), f"{type(exc).__name__}: {exc}"
        )


async def refresh_stale_search_stats(context: JobContext, timestamp: int) -> None:
    """Full-text search's term statistics follow the corpora as they grow (each minute, a
    corpus written to by more than 5 % of its rows since the last refresh is recounted)."""
    await search_stats.refresh_search_stats(_runtime(context).sessionmaker)


async def retry_stalled_jobs(context: JobContext, timestamp: int) -> None:
    """Jobs held by a worker whose heartbeat stopped (killed, frozen) go back to the queue; the
    run continues from its last checkpoint on another worker. Workers are pruned only well
    after their jobs are retried, so a pruned worker never hides a stalled job."""
    runtime = _runtime(context)
    manager = context.app.job_manager
    stalled_after = runtime.settings.worker_stalled_seconds
    for job in await manager.get_stalled_jobs(seconds_since_heartbeat=stalled_after):
        log.warning("stalled_job_retried", job_id=job.id, task=job.task_name)
        await manager.retry_job(job)
    await manager.prune_stalled_workers(seconds_since_heartbeat=stalled_after * 4)


def worker_options(runtime: Runtime, **overrides: Any) -> dict[str, Any]:
    settings = runtime.settings
    options: dict[str, Any] = {
        "concurrency": settings.worker_concurrency,
        "additional_context": {"runtime": runtime},
        "update_heartbeat_interval": settings.worker_heartbeat_seconds,
        # A new worker prunes older silent workers at start: keep it longer than the sweep.
        "stalled_worker_timeout": settings.worker_stalled_seconds * 4,
        "fetch_job_polling_interval": settings.worker_poll_seconds,
        "shutdown_graceful_timeout": 30,
        "install_signal_handlers": False,
    }
    return {**options, **overrides}


async def run_worker(runtime: Runtime, **overrides: Any) -> None:
    """A worker in the foreground (`inferra worker`) until it is stopped."""
    await runtime.jobs.run_worker_async(**worker_options(runtime, **overrides))


async def run_worker_until_stopped(runtime: Runtime, **overrides: Any) -> None:
    """A worker until cancelled (`serve`'s embedded one, `inferra worker`): started again with
    backoff whenever it stops on its own (procrastinate stops a worker whose fetch, heartbeat
    or listener failed, e.g. while the database was away), so processing pauses during an
    outage and resumes by itself; the jobs it held are retried by the sweep."""
    delay = 1.0
    while True:
        try:
            await run_worker(runtime, **overrides)
            log.warning("worker_stopped_restarting", in_seconds=delay)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("worker_failed_restarting", in_seconds=delay)
        await asyncio.sleep(delay)
        delay = min(delay * 2, 30.0)


async def drain(runtime: Runtime) -> int:
    """Process every queued job, one at a time, then return how many ran (tests, evals,
    `worker --once`)."""
    before = await _finished_jobs(runtime)
    await run_worker(runtime, wait=False, concurrency=1, listen_notify=False)
    return await _finished_jobs(runtime) - before


async def _finished_jobs(runtime: Runtime) -> int:
    async with runtime.sessionmaker() as session:
        return await JobRepository(session).finished_count(excluding_tasks=jobs.MAINTENANCE_TASKS)
