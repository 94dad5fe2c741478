"""POST /tickets latency and agent run latency per node, offline providers, embedded Postgres.

    .venv/bin/python -m benchmarks.agent_latency [--tickets 40]

Starts the app in-process (create_app's lifespan opens the runtime: it measures HTTP) on a fresh
embedded database (temp dir), loads the demo data, files tickets over HTTP (ASGI transport), then
drains the job queue with services.worker.drain (one job at a time, the production run
lifecycle) and reads each run's timing per node from its LangGraph checkpoints (time between
consecutive checkpoints).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections import defaultdict
from datetime import datetime

import httpx

from agent.runner import thread_config
from api.main import create_app
from benchmarks.offline import offline_settings
from core.logging import configure_logging
from inferra.demo import HISTORY, OPEN_TICKETS, seed
from services.worker import drain

TICKETS = (
    [(t, d) for t, d, *_ in HISTORY]
    + OPEN_TICKETS
    + [
        ("Wifi asks for a certificate", "Laptop will not join the office wireless network."),
        ("Monitor flickers", "The external screen flickers when docked."),
    ]
)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def row(name: str, values: list[float]) -> str:
    return (
        f"{name:<18} n={len(values):<4} p50={pct(values, 0.5):8.1f} ms  "
        f"p95={pct(values, 0.95):8.1f} ms  mean={statistics.fmean(values):8.1f} ms"
    )


async def main(n_tickets: int) -> None:
    configure_logging("WARNING")
    settings = offline_settings()
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        runtime = app.state.runtime
        await runtime.embedder.warm_up()
        async with runtime.sessionmaker.begin() as session:
            await seed(session, runtime)
        await drain(runtime)  # the demo's own open tickets
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            creds = {"email": "bench@example.com", "password": "bench-password"}
            await client.post("/api/v1/auth/register", json=creds)
            token = (
                await client.post(
                    "/api/v1/auth/login",
                    data={"username": creds["email"], "password": creds["password"]},
                )
            ).json()["access_token"]
            headers = {"Authorization": f"Bearer {token}"}
            post_ms, run_ids = [], []
            for i in range(n_tickets):
                title, description = TICKETS[i % len(TICKETS)]
                started = time.perf_counter()
                response = await client.post(
                    "/api/v1/tickets",
                    headers=headers,
                    json={"title": title, "description": description},
                )
                post_ms.append((time.perf_counter() - started) * 1000)
                response.raise_for_status()
                run_ids.append(response.json()["run_id"])
        started = time.perf_counter()
        ran = await drain(runtime)
        wall = time.perf_counter() - started
        per_node: dict[str, list[float]] = defaultdict(list)
        totals = []
        for run_id in run_ids:
            history = [s async for s in runtime.graph.aget_state_history(thread_config(run_id))]
            history.reverse()
            stamps = [datetime.fromisoformat(s.created_at) for s in history]
            for snap, start, end in zip(history, stamps, stamps[1:], strict=False):
                for node in snap.next:
                    if node != "__start__":
                        per_node[node].append((end - start).total_seconds() * 1000)
            totals.append((stamps[-1] - stamps[0]).total_seconds() * 1000)
    print(f"POST /api/v1/tickets ({n_tickets} tickets, in-process ASGI)")
    print(row("POST", post_ms))
    print(f"\nAgent runs, offline providers ({ran} runs, drained in {wall:.1f} s)")
    for node in (
        "classify",
        "retrieve_tickets",
        "retrieve_docs",
        "web_search",
        "draft",
        "validate",
        "handoff",
        "persist",
    ):
        if per_node.get(node):
            print(row(node, per_node[node]))
    print(row("whole run", totals))
    print("(parallel retrieval nodes share one checkpoint step: each shows the step's time)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--tickets", type=int, default=40)
    asyncio.run(main(parser.parse_args().tickets))
