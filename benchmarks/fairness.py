"""Fair scheduling of runs: one requester's flood vs another requester's ticket.

    .venv/bin/python -m benchmarks.fairness [--a-tickets 1000] [--b-tickets 20] [--interval 2]
        [--concurrency 2] [--model instant|offline] [--modes fair,fifo] [--timeout 900]

For each mode, on its own fresh embedded database (temp dir, services.runtime.open_runtime, demo
data loaded and its own open tickets drained first):
  1. requester A files --a-tickets tickets through services.tickets.create, 100 per
     transaction (each ticket queues its run's job, as POST /tickets does);
  2. a worker starts as a background task, services.worker.run_worker(runtime,
     concurrency=--concurrency), in this process, and works through A's flood;
  3. meanwhile requester B files one ticket every --interval seconds, --b-tickets of them;
  4. once every B run has started (or after --timeout), the worker is stopped and the rest of
     A's queue abandoned with the database.
B's wait is `agent_runs.started_at - agent_runs.created_at` (the worker took the job and
started the run; both stamps from Postgres). "A ran meanwhile" counts A's runs that started
between B's first ticket and B's last run start.

Modes: "fair" is the code as it is (services.jobs.defer_run gives a run priority = minus the
runs its requester already has queued); "fifo" patches services.jobs.run_priority to 0, so
every run gets priority 0 and the queue is plain first in, first out.

Providers: offline (no key; web search disabled with web_search_enabled=False). The chat
model is --model instant by default, a scripted model from tests/fakes.py that answers the
classification and the resolution at once (retrieval, embeddings, checkpoints, persistence stay
real), so that A's flood takes minutes rather than tens of minutes; --model offline uses the
offline resolver instead (slower runs: FIFO then takes proportionally longer).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import shutil
import time
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from unittest import mock

from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from sqlalchemy import func, select

from benchmarks.figures import machine, pct
from benchmarks.offline import offline_settings
from core.logging import configure_logging
from core.models import AgentRun, Role, RunStatus, User
from inferra.demo import HISTORY, OPEN_TICKETS, seed
from services import jobs, tickets, users
from services.runtime import Runtime, open_runtime
from services.worker import drain, run_worker
from tests.fakes import ScriptedChatModel, classification, resolution

TEXTS = [(t, d) for t, d, *_ in HISTORY] + OPEN_TICKETS
PER_TRANSACTION = 100


class InstantChatModel(ScriptedChatModel):
    """Answers whichever schema it is asked for (Classification or DraftResolution) at once:
    unlike a script in call order, it is safe to share between concurrent runs."""

    model: str = "instant-scripted"

    def bind_tools(self, tools: Any, **kwargs: Any) -> GenericFakeChatModel:
        name = getattr(tools[0], "__name__", "")
        answer = classification() if name == "Classification" else resolution(["T1"])
        return GenericFakeChatModel(messages=itertools.repeat(answer))


@dataclass
class Outcome:
    mode: str
    waits: list[float]  # seconds, per B run that started
    not_started: int  # B runs still queued at the timeout
    a_meanwhile: int  # A runs started between B's first filing and B's last start
    a_queued_at_b: tuple[int, int]  # A's queued runs when B filed its first / last ticket
    window: float  # seconds from B's first filing to B's last start
    b_done: list[float]  # seconds from filing to finished, B runs that finished
    fill_seconds: float  # A's flood filed in
    interval: float  # measured seconds between B's filings (mean)


async def make_user(runtime: Runtime, email: str) -> User:
    async with runtime.sessionmaker.begin() as session:
        return await users.create_user(
            session=session, email=email, password="bench-password", role=Role.user
        )


async def file(runtime: Runtime, owner: User, count: int, offset: int = 0) -> list[uuid.UUID]:
    run_ids = []
    async with runtime.sessionmaker.begin() as session:
        for i in range(offset, offset + count):
            title, description = TEXTS[i % len(TEXTS)]
            _, run = await tickets.create(
                session=session,
                runtime=runtime,
                owner=owner,
                title=f"{title} #{i}",
                description=description,
            )
            run_ids.append(run.id)
    return run_ids


async def queued(runtime: Runtime, owner: User) -> int:
    """Runs of owner not yet taken."""
    async with runtime.sessionmaker() as session:
        count = await session.scalar(
            select(func.count()).where(
                AgentRun.requested_by == owner.id, AgentRun.status == RunStatus.queued
            )
        )
        return count or 0


async def runs_of(runtime: Runtime, run_ids: list[uuid.UUID]) -> list[AgentRun]:
    async with runtime.sessionmaker() as session:
        rows = await session.scalars(select(AgentRun).where(AgentRun.id.in_(run_ids)))
        return list(rows)


async def started_between(runtime: Runtime, owner: User, start: datetime, end: datetime) -> int:
    async with runtime.sessionmaker() as session:
        count = await session.scalar(
            select(func.count()).where(
                AgentRun.requested_by == owner.id,
                AgentRun.started_at >= start,
                AgentRun.started_at <= end,
            )
        )
        return count or 0


async def stop(task: asyncio.Task) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def scenario(mode: str, args: argparse.Namespace) -> Outcome:
    settings = offline_settings(
        prefix=f"inferra-bench-fairness-{mode}-",
        web_search_enabled=False,
        worker_concurrency=args.concurrency,
    )
    model = InstantChatModel(messages=iter(()), prompts=[]) if args.model == "instant" else None
    try:
        async with open_runtime(settings, migrate_database=True, chat_model=model) as runtime:
            await runtime.embedder.warm_up()
            async with runtime.sessionmaker.begin() as session:
                await seed(session, runtime)
            await drain(runtime)  # the demo's own open tickets: the queue holds only A's and B's
            a = await make_user(runtime, "flood-a@bench.inferra.dev")
            b = await make_user(runtime, "single-b@bench.inferra.dev")
            started = time.perf_counter()
            for offset in range(0, args.a_tickets, PER_TRANSACTION):
                await file(runtime, a, min(PER_TRANSACTION, args.a_tickets - offset), offset)
            fill_seconds = time.perf_counter() - started
            print(f"  [{mode}] A filed {args.a_tickets} tickets in {fill_seconds:.1f} s")
            worker = asyncio.create_task(run_worker(runtime, concurrency=args.concurrency))
            try:
                return await measure(runtime, mode, args, a, b, worker, fill_seconds)
            finally:
                await stop(worker)
    finally:
        shutil.rmtree(settings.data_dir, ignore_errors=True)


async def measure(
    runtime: Runtime,
    mode: str,
    args: argparse.Namespace,
    a: User,
    b: User,
    worker: asyncio.Task,
    fill_seconds: float,
) -> Outcome:
    await asyncio.sleep(args.interval)  # the worker is into A's flood
    b_runs: list[uuid.UUID] = []
    a_queued: list[int] = []
    filed_at: list[float] = []
    for i in range(args.b_tickets):
        due = time.perf_counter() + args.interval
        a_queued.append(await queued(runtime, a))
        filed_at.append(time.perf_counter())
        b_runs += await file(runtime, b, 1, offset=i)
        if worker.done():
            worker.result()  # raises what stopped the worker
        if i < args.b_tickets - 1:
            await asyncio.sleep(max(0.0, due - time.perf_counter()))
    print(f"  [{mode}] B filed {args.b_tickets} tickets; waiting for their runs to start")
    deadline = time.perf_counter() + args.timeout
    while True:
        rows = await runs_of(runtime, b_runs)
        waiting = [r for r in rows if r.started_at is None]
        if not waiting or time.perf_counter() > deadline or worker.done():
            break
        await asyncio.sleep(0.5)
    await asyncio.sleep(2 * args.interval)  # let the last B runs finish, for their total time
    rows = await runs_of(runtime, b_runs)
    first_filed = min(r.created_at for r in rows)
    starts = [r.started_at for r in rows if r.started_at is not None]
    last_start = max(starts) if starts else first_filed
    done = [r for r in rows if r.finished_at is not None and r.status is RunStatus.succeeded]
    return Outcome(
        mode=mode,
        waits=[(r.started_at - r.created_at).total_seconds() for r in rows if r.started_at],
        not_started=len(rows) - len(starts),
        a_meanwhile=await started_between(runtime, a, first_filed, last_start),
        a_queued_at_b=(a_queued[0], a_queued[-1]),
        window=(last_start - first_filed).total_seconds(),
        b_done=[(r.finished_at - r.created_at).total_seconds() for r in done],
        fill_seconds=fill_seconds,
        interval=(filed_at[-1] - filed_at[0]) / max(1, len(filed_at) - 1),
    )


def summary(values: list[float]) -> tuple[float, float, float]:
    if not values:
        return (float("nan"),) * 3
    return pct(values, 0.5), pct(values, 0.95), max(values)


def cell(value: float) -> str:
    return f"{value:>12.2f}" if isinstance(value, float) else f"{value:>12}"


def report(outcomes: list[Outcome], args: argparse.Namespace) -> None:
    print(
        f"\nA: {args.a_tickets} tickets queued at once; B: {args.b_tickets} tickets, one every "
        f"{args.interval:g} s; worker concurrency {args.concurrency}; chat model: "
        + (
            "instant scripted (tests/fakes.py, answers at once)"
            if args.model == "instant"
            else "none (offline resolver)"
        )
        + "; web search disabled"
    )
    header = f"{'':<42}" + "".join(f"{o.mode:>12}" for o in outcomes)
    if len(outcomes) == 2:
        header += f"{outcomes[1].mode + '/' + outcomes[0].mode:>14}"
    print(header)
    lines: list[tuple[str, list[float]]] = []
    waits = [summary(o.waits) for o in outcomes]
    for i, name in enumerate(("p50", "p95", "max")):
        lines.append((f"B filed -> run started, {name} (s)", [w[i] for w in waits]))
    done = [summary(o.b_done) for o in outcomes]
    lines.append(("B filed -> run finished, p50 (s)", [d[0] for d in done]))
    lines.append(("B runs not started at the timeout", [o.not_started for o in outcomes]))
    lines.append(("A runs started meanwhile", [o.a_meanwhile for o in outcomes]))
    lines.append(("B's window: first filed -> last start (s)", [o.window for o in outcomes]))
    lines.append(("A queued when B filed its first ticket", [o.a_queued_at_b[0] for o in outcomes]))
    lines.append(("A queued when B filed its last ticket", [o.a_queued_at_b[1] for o in outcomes]))
    lines.append(("A's flood filed in (s)", [o.fill_seconds for o in outcomes]))
    lines.append(("B's filing interval, measured mean (s)", [o.interval for o in outcomes]))
    for name, values in lines:
        row = f"{name:<42}" + "".join(map(cell, values))
        if len(values) == 2 and values[0] and name.startswith("B filed"):
            row += f"{values[1] / values[0]:>13.1f}x"
        print(row)
    fair = next((o for o in outcomes if o.mode == "fair"), None)
    if fair is not None and fair.waits:
        p95 = summary(fair.waits)[1]
        verdict = "met" if p95 <= 5 and not fair.not_started else "NOT met"
        print(f"\ntarget (B picked within 5 s p95 while A has {args.a_tickets} queued): {verdict}")


async def main(args: argparse.Namespace) -> None:
    configure_logging("WARNING")
    print(f"machine: {machine()} (shared: other sessions may run on the same 2 cores)")
    outcomes = []
    for mode in args.modes.split(","):
        started = time.perf_counter()
        if mode == "fifo":
            # every run gets priority 0: first in, first out
            with mock.patch.object(jobs, "run_priority", return_value=0):
                outcomes.append(await scenario(mode, args))
        elif mode == "fair":
            outcomes.append(await scenario(mode, args))
        else:
            raise SystemExit(f"unknown mode {mode!r}: fair or fifo")
        print(f"  [{mode}] scenario took {time.perf_counter() - started:.0f} s")
    report(outcomes, args)
    print(f"machine after: {machine()}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--a-tickets", type=int, default=1000, help="A's flood")
    parser.add_argument("--b-tickets", type=int, default=20, help="B's tickets, one per interval")
    parser.add_argument("--interval", type=float, default=2.0, help="seconds between B's tickets")
    parser.add_argument("--concurrency", type=int, default=2, help="the worker's concurrency")
    parser.add_argument("--model", choices=("instant", "offline"), default="instant")
    parser.add_argument("--modes", default="fair,fifo", help="fair, fifo or both (comma)")
    parser.add_argument(
        "--timeout", type=float, default=900, help="seconds to wait for B's runs to start"
    )
    asyncio.run(main(parser.parse_args()))
