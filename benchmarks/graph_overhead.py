"""Checkpointing overhead: the same runs through the Postgres checkpointer and the in-memory one.

    .venv/bin/python -m benchmarks.graph_overhead [--runs 200] [--durability sync,async,exit]

Scripted (instant) chat model, offline web search, real retrieval and persistence on a fresh
embedded Postgres with the demo data, all opened by services.runtime.open_runtime; `durability=
"sync"` as in production. The Postgres side is the runtime's own graph (its checkpointer and
pool); the in-memory side is the same graph built on an InMemorySaver. Tickets are filed through
services.tickets.create (their jobs stay queued: no worker runs) and each run is executed
directly, so that only the graph is timed. Side by side: after 5 untimed runs per saver, each
ticket goes through every saver in turn (a saver timed first would pay the warm-up alone).
Prints ms per run and per step for each saver, and the difference.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import statistics
import time
from collections import defaultdict
from datetime import datetime

from langgraph.checkpoint.memory import InMemorySaver

from agent.graph import build_graph
from agent.runner import execute, thread_config, ticket_input
from benchmarks.offline import offline_settings
from core.logging import configure_logging
from core.models import Role
from core.repositories.users import UserRepository
from inferra.demo import seed
from services import tickets
from services.runtime import Runtime, open_runtime
from tests.fakes import OfflineWebSearch, ScriptedChatModel, classification, resolution

WARM_UP = 5  # runs per saver before the clock: the model's first shapes, the first plans


def stats(values: list[float]) -> str:
    ordered = sorted(values)
    p95 = ordered[round(0.95 * (len(ordered) - 1))]
    mean, p50 = statistics.fmean(values), statistics.median(values)
    return f"mean {mean:7.1f} ms  p50 {p50:7.1f}  p95 {p95:7.1f}"


async def timed_run(
    graph, runtime: Runtime, owner, title: str, durability: str, per_node: dict[str, list[float]]
) -> float:
    """One ticket's run through `graph`, in ms; its steps' times are added to `per_node`."""
    async with runtime.sessionmaker.begin() as session:
        ticket, run = await tickets.create(
            session=session,
            runtime=runtime,
            owner=owner,
            title=title,
            description="GlobalProtect disconnects",
        )
    run_id = run.id  # stays "queued" in agent_runs: no worker runs in this process
    started = time.perf_counter()
    await execute(graph, runtime.agent, run_id, ticket_input(ticket), durability=durability)
    elapsed = (time.perf_counter() - started) * 1000
    history = [s async for s in graph.aget_state_history(thread_config(run_id))]
    history.reverse()
    for before, after in itertools.pairwise(history):
        name = "+".join(sorted(t.name for t in before.tasks))
        if name != "__start__":
            delta = datetime.fromisoformat(after.created_at) - datetime.fromisoformat(
                before.created_at
            )
            per_node[name].append(delta.total_seconds() * 1000)
    return elapsed


async def main(n: int, modes: list[str]) -> None:
    configure_logging("WARNING")
    settings = offline_settings()
    script = itertools.cycle([classification(), resolution(["T1"])])
    model = ScriptedChatModel(messages=script, prompts=[])
    async with open_runtime(
        settings, migrate_database=True, chat_model=model, web_search=OfflineWebSearch()
    ) as runtime:
        await runtime.embedder.warm_up()
        async with runtime.sessionmaker.begin() as session:
            await seed(session, runtime)
        async with runtime.sessionmaker() as session:
            owner = await UserRepository(session).get_by_email("alice@demo.inferra.dev")
        assert owner is not None and owner.role is Role.user
        memory_graph = build_graph(InMemorySaver())  # the comparison: same graph, no Postgres
        # LangGraph's durability modes, on the runtime's Postgres saver
        savers = {"in-memory": (memory_graph, "sync")} | {
            f"postgres {mode}": (runtime.graph, mode) for mode in modes
        }
        results: dict[str, tuple[list[float], dict[str, list[float]]]] = {
            name: ([], defaultdict(list)) for name in savers
        }
        for i in range(-WARM_UP, n):  # side by side: each run goes through every saver in turn
            for k, (name, (graph, durability)) in enumerate(savers.items()):
                per_run, per_node = results[name]
                # Titles differ between savers: a repeated query would skip its embedding.
                title = f"VPN drops {i}.{k}"
                elapsed = await timed_run(graph, runtime, owner, title, durability, per_node)
                if i < 0:
                    per_node.clear()
                else:
                    per_run.append(elapsed)
    print(f"data dir (left for inspection): {settings.data_dir}")
    for name, (per_run, per_node) in results.items():
        print(f"\n{name} saver, {n} runs: per run {stats(per_run)}")
        for node, values in per_node.items():
            print(f"  {node:<45} {stats(values)}")
    memory = statistics.fmean(results["in-memory"][0])
    for name, (per_run, _) in results.items():
        if name == "in-memory":
            continue
        postgres = statistics.fmean(per_run)
        print(
            f"\ncheckpointing overhead, {name}: {postgres - memory:.1f} ms per run "
            f"(mean, vs in-memory {memory:.1f} ms), x{postgres / memory:.2f}"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument(
        "--durability",
        default="sync",
        help="LangGraph durability modes to time on Postgres, comma-separated: sync,async,exit",
    )
    args = parser.parse_args()
    asyncio.run(main(args.runs, args.durability.split(",")))
