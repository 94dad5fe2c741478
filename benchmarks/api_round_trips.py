"""Database round trips per request of the ticket API: a figure that the machine's load does not
move (the req/s of api_load do).

    .venv/bin/python -m benchmarks.api_round_trips [--requests 20]

Opens the app in-process (create_app's lifespan, offline settings, fresh embedded database),
registers and logs in one requester, then counts, per request, the SQL statements the app's
engines send (SQLAlchemy's before_cursor_execute) and their commits (SQLAlchemy's: on the
read-only pool of GET requests a commit sends nothing), for `POST /api/v1/tickets`,
`GET /api/v1/tickets/{id}`, `GET /api/v1/tickets` and `GET /api/v1/users/me`, and the round
trips to Postgres that psycopg makes in this process (every query it sends and every BEGIN /
COMMIT / ROLLBACK, pool pings and procrastinate's job insert on the same connection included).
Prints the mean per request, the mean latency (in-process, so also the load's) and the CPU
time this process spent per request (`time.process_time`: the app, its driver and the httpx
client together, not Postgres; steadier than the latency on a busy machine), with
`GET /healthz` as the yardstick: the ticket requests' CPU over its CPU is the inverse of the
most their req/s can reach relative to it on one core.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections import Counter

import httpx
from psycopg._connection_base import BaseConnection
from psycopg._cursor_base import BaseCursor
from sqlalchemy import event
from sqlalchemy.engine import Engine

from api.main import create_app
from benchmarks.figures import machine
from benchmarks.offline import offline_settings
from core.logging import configure_logging
from services.runtime import warm_up

PASSWORD = "bench-password-1"
WARM_UP = 10


def count_round_trips(counts: Counter[str]) -> None:
    """psycopg's ways to the server: a query a cursor sends (plain, prepared, or the preparing of
    one), a command of the connection's own (BEGIN, COMMIT, ROLLBACK). Private methods, as a
    benchmark may: the pure-Python layer above the C driver, where each call is one message and
    one wait for its answer (no pipeline mode here)."""
    sends = ("_execute_send", "_send_query_prepared", "_send_prepare")
    targets = [(BaseCursor, name) for name in sends] + [(BaseConnection, "_exec_command")]
    for owner, name in targets:
        original = getattr(owner, name)

        def counted(*args: object, _original=original, **kwargs: object) -> object:
            counts.update(["round trip"])
            return _original(*args, **kwargs)

        setattr(owner, name, counted)


async def measure(requests: int) -> None:
    settings = offline_settings()
    app = create_app(settings)
    counts: Counter[str] = Counter()
    async with app.router.lifespan_context(app):
        await warm_up(app.state.runtime)  # the model loads in a thread: not during the count
        # Every engine of the process (the app's write and read pools; older code has one).
        event.listen(Engine, "before_cursor_execute", lambda *a, **k: counts.update(["sql"]))
        event.listen(Engine, "commit", lambda *a, **k: counts.update(["commit"]))
        count_round_trips(counts)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            email = "rt@bench.inferra.dev"
            await client.post("/api/v1/auth/register", json={"email": email, "password": PASSWORD})
            login = await client.post(
                "/api/v1/auth/login", data={"username": email, "password": PASSWORD}
            )
            headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
            await client.get("/api/v1/users/me", headers=headers)  # warm: the user is known
            ticket = {"title": "VPN drops", "description": "GlobalProtect disconnects at home"}
            ids: list[str] = []

            async def post() -> httpx.Response:
                response = await client.post("/api/v1/tickets", json=ticket, headers=headers)
                ids.append(response.json()["ticket"]["id"])
                return response

            cases = {
                "POST /api/v1/tickets": post,
                "GET /api/v1/tickets/{id}": lambda: client.get(
                    f"/api/v1/tickets/{ids[0]}", headers=headers
                ),
                "GET /api/v1/tickets": lambda: client.get("/api/v1/tickets", headers=headers),
                "GET /api/v1/users/me": lambda: client.get("/api/v1/users/me", headers=headers),
                "GET /healthz": lambda: client.get("/healthz"),
            }
            print(f"machine: {machine()}")
            print(
                f"{'request':<28} {'SQL statements':>15} {'commits':>8} {'round trips':>12} "
                f"{'mean ms':>8} {'CPU ms':>7}"
            )
            for name, call in cases.items():
                for _ in range(WARM_UP):  # first calls compile statements, fill caches
                    await call()
                counts.clear()
                times = []
                cpu_started = time.process_time()
                for _ in range(requests):
                    started = time.perf_counter()
                    response = await call()
                    times.append((time.perf_counter() - started) * 1000)
                    assert response.status_code < 300, response.text
                cpu = (time.process_time() - cpu_started) * 1000 / requests
                print(
                    f"{name:<28} {counts['sql'] / requests:>15.1f} "
                    f"{counts['commit'] / requests:>8.1f} {counts['round trip'] / requests:>12.1f} "
                    f"{statistics.fmean(times):>8.1f} "
                    f"{cpu:>7.2f}"
                )


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=200)
    configure_logging("WARNING")
    asyncio.run(measure(parser.parse_args().requests))
