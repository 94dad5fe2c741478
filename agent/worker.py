"""The run worker: claims queued runs from Postgres and executes them.

Hand-written rather than procrastinate: the queue *is* the agent_runs table, so a run is
enqueued in the same transaction that creates its ticket (no window where a ticket exists
without its job, or a job without its committed ticket), and the run's status, lease and
attempts live in one row that the runs API reads. Claiming uses FOR UPDATE SKIP LOCKED; a
running run whose lease expires (its worker died) is claimed again and continues from its last
LangGraph checkpoint. LISTEN/NOTIFY wakes idle workers; polling is the fallback.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import uuid
from collections.abc import Awaitable, Callable, Sequence

import psycopg
import structlog
from langgraph.graph.state import CompiledStateGraph
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from agent import runner
from agent.context import AgentContext
from core.models import AgentRun, RunStatus
from core.repositories.runs import NOTIFY_CHANNEL, RunRepository
from core.repositories.tickets import TicketRepository

log = structlog.get_logger(__name__)
MAX_ATTEMPTS = 3


class RunWorker:
    def __init__(
        self,
        *,
        graph: CompiledStateGraph,
        context: AgentContext,
        listen_conninfo: str | None = None,
        concurrency: int | None = None,
        name: str | None = None,
        other_jobs: Sequence[Callable[[], Awaitable[bool]]] = (),
    ) -> None:
        """other_jobs: more queues this worker serves (e.g. background ingestion), each a
        callable that processes one job and says whether there was one."""
        settings = context.settings
        self.graph = graph
        self.context = context
        self.sessionmaker: async_sessionmaker[AsyncSession] = context.sessionmaker
        self.listen_conninfo = listen_conninfo
        self.concurrency = concurrency or settings.worker_concurrency
        self.lease_seconds = settings.worker_lease_seconds
        self.poll_seconds = settings.worker_poll_seconds
        self.worker_id = name or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.other_jobs = list(other_jobs)
        self._wake = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()

    async def claim(self) -> AgentRun | None:
        async with self.sessionmaker.begin() as session:
            return await RunRepository(session).claim_next(self.worker_id, self.lease_seconds)

    async def process(self, run: AgentRun) -> None:
        structlog.contextvars.bind_contextvars(run_id=str(run.id), ticket_id=str(run.ticket_id))
        heartbeat = asyncio.create_task(self._keep_lease(run.id))
        try:
            outcome = await self._execute(run)
        except Exception as exc:
            log.exception("run_failed")
            await self._finish(
                run.id, RunStatus.failed, error=f"{type(exc).__name__}: {exc}"[:2000]
            )
        else:
            await self._finish(
                run.id, outcome.status, model=outcome.model, skipped_steps=outcome.skipped
            )
            log.info("run_finished", status=outcome.status.value, skipped=len(outcome.skipped))
        finally:
            heartbeat.cancel()
            structlog.contextvars.unbind_contextvars("run_id", "ticket_id")

    async def _execute(self, run: AgentRun) -> runner.RunOutcome:
        if run.attempts > MAX_ATTEMPTS:
            raise RuntimeError(f"gave up after {MAX_ATTEMPTS} attempts (worker crashes?)")
        log.info("run_started", attempt=run.attempts, trigger=run.trigger.value)
        return await runner.execute(self.graph, self.context, run.id, await self._start(run))

    async def _start(self, run: AgentRun) -> dict:
        if run.parent_run_id and run.parent_checkpoint_id:
            return await runner.fork_input(
                self.graph, run.parent_run_id, run.parent_checkpoint_id, run.state_patch
            )
        async with self.sessionmaker() as session:
            ticket = await TicketRepository(session).get(run.ticket_id)
        if ticket is None:
            raise RuntimeError("ticket no longer exists")
        return runner.ticket_input(ticket)

    async def _finish(self, run_id: uuid.UUID, status: RunStatus, **fields) -> None:
        async with self.sessionmaker.begin() as session:
            await RunRepository(session).finish(run_id, status, **fields)

    async def _keep_lease(self, run_id: uuid.UUID) -> None:
        while True:
            await asyncio.sleep(self.lease_seconds / 3)
            async with self.sessionmaker.begin() as session:
                await RunRepository(session).renew_lease(run_id, self.worker_id, self.lease_seconds)

    async def drain(self) -> int:
        """Process runs (and other jobs) until the queues are empty (tests, `worker --once`)."""
        count = 0
        while (run := await self.claim()) is not None:
            await self.process(run)
            count += 1
        for job in self.other_jobs:
            while await job():
                count += 1
        return count

    async def _other_job(self) -> bool:
        for job in self.other_jobs:
            try:
                if await job():
                    return True
            except Exception:  # a broken job must not stop the worker
                log.exception("job_failed")
        return False

    async def run_forever(self) -> None:
        log.info("worker_started", worker_id=self.worker_id, concurrency=self.concurrency)
        listener = asyncio.create_task(self._listen()) if self.listen_conninfo else None
        slots = asyncio.Semaphore(self.concurrency)
        try:
            while True:
                await slots.acquire()
                run = await self._claim_or_none()
                if run is None:
                    slots.release()
                    if not await self._other_job():
                        await self._sleep_until_woken()
                    continue
                task = asyncio.create_task(self.process(run))
                self._tasks.add(task)
                task.add_done_callback(lambda t: (self._tasks.discard(t), slots.release()))
        finally:
            if listener:
                listener.cancel()
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _claim_or_none(self) -> AgentRun | None:
        try:
            return await self.claim()
        except Exception:  # database restart etc.: keep the worker alive, try again later
            log.exception("claim_failed")
            return None

    async def _sleep_until_woken(self) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), self.poll_seconds)
        self._wake.clear()

    async def _listen(self) -> None:
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(
                    self.listen_conninfo, autocommit=True
                ) as conn:
                    await conn.execute(f"LISTEN {NOTIFY_CHANNEL}")
                    async for _ in conn.notifies():
                        self._wake.set()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("listen_failed_retrying")
                await asyncio.sleep(self.poll_seconds)
