"""Checkpointing overhead: the same runs through the Postgres checkpointer and the in-memory one.

    .venv/bin/python -m benchmarks.graph_overhead [--runs 200]

Scripted (instant) chat model, offline web search, real retrieval and persistence on a fresh
embedded Postgres with the demo data; `durability="sync"` as in production. Prints ms per run
and per step for each saver, and the difference.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import statistics
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from langgraph.checkpoint.memory import InMemorySaver

from agent.checkpointer import postgres_checkpointer
from agent.graph import build_graph
from agent.runner import execute, ticket_input
from api.main import create_app
from api.tickets import service as tickets
from core.logging import configure_logging
from core.models import Role
from core.settings import Settings
from inferra.demo import seed
from tests.fakes import OfflineWebSearch, ScriptedChatModel, classification, resolution


def stats(values: list[float]) -> str:
    ordered = sorted(values)
    p95 = ordered[round(0.95 * (len(ordered) - 1))]
    mean, p50 = statistics.fmean(values), statistics.median(values)
    return f"mean {mean:7.1f} ms  p50 {p50:7.1f}  p95 {p95:7.1f}"


async def timed_runs(graph, context, sessionmaker, owner, n: int) -> tuple[list[float], dict]:
    per_run: list[float] = []
    per_node: dict[str, list[float]] = defaultdict(list)
    for i in range(n):
        async with sessionmaker.begin() as session:
            ticket, run = await tickets.create(
                session=session,
                owner=owner,
                title=f"VPN drops {i}",
                description="GlobalProtect disconnects",
                category_hint=None,
            )
        run_id = run.id  # stays "queued" in agent_runs: no worker runs in this process
        started = time.perf_counter()
        await execute(graph, context, run_id, ticket_input(ticket))
        per_run.append((time.perf_counter() - started) * 1000)
        history = [
            s async for s in graph.aget_state_history({"configurable": {"thread_id": str(run_id)}})
        ]
        history.reverse()
        for before, after in itertools.pairwise(history):
            name = "+".join(sorted(t.name for t in before.tasks))
            if name != "__start__":
                from datetime import datetime

                delta = datetime.fromisoformat(after.created_at) - datetime.fromisoformat(
                    before.created_at
                )
                per_node[name].append(delta.total_seconds() * 1000)
    return per_run, per_node


async def main(n: int) -> None:
    configure_logging("WARNING")
    settings = Settings(
        data_dir=Path(tempfile.mkdtemp(prefix="inferra-bench-")),
        worker_enabled=False,
        log_level="WARNING",
        _env_file=None,
    )
    script = itertools.cycle([classification(), resolution(["T1"])])
    model = ScriptedChatModel(messages=script, prompts=[])
    app = create_app(settings, chat_model=model, web_search=OfflineWebSearch())
    async with app.router.lifespan_context(app):
        context = app.state.agent_context
        await context.embedder.warm_up()
        sessionmaker = app.state.sessionmaker
        async with sessionmaker.begin() as session:
            await seed(session, context.embedder)
        from core.repositories.users import UserRepository

        async with sessionmaker() as session:
            owner = await UserRepository(session).get_by_email("alice@demo.inferra.dev")
        assert owner is not None and owner.role is Role.user
        results = {}
        results["in-memory"] = await timed_runs(
            build_graph(InMemorySaver()), context, sessionmaker, owner, n
        )
        async with postgres_checkpointer(app.state.database_urls.libpq) as saver:
            results["postgres"] = await timed_runs(
                build_graph(saver), context, sessionmaker, owner, n
            )
    for name, (per_run, per_node) in results.items():
        print(f"\n{name} saver, {n} runs: per run {stats(per_run)}")
        for node, values in per_node.items():
            print(f"  {node:<45} {stats(values)}")
    memory = statistics.fmean(results["in-memory"][0])
    postgres = statistics.fmean(results["postgres"][0])
    steps = len(results["postgres"][1])
    print(
        f"\ncheckpointing overhead: {postgres - memory:.1f} ms per run "
        f"({(postgres - memory) / steps:.1f} ms per step over {steps} steps), "
        f"x{postgres / memory:.2f}"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=200)
    asyncio.run(main(parser.parse_args().runs))
