"""Console page latency with 10,000 tickets: the staff queue (default view, filtered, text
search, a deep page) and the staff ticket page (a ticket with its resolution, runs, comments).

    .venv/bin/python -m benchmarks.console_pages [--tickets 10000] [--requests 200]

In process (create_app's lifespan opens the runtime; HTTP through the ASGI transport with the
console's session cookie), fresh embedded Postgres in a temp dir, offline providers. The tickets
are bulk-inserted (5% escalated, a mix of statuses, categories and priorities); one more is filed
through services.tickets.create and resolved by the job worker, so its page shows a resolution.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import re
import statistics
import time
import uuid

import httpx
from sqlalchemy import insert

from api.main import create_app
from benchmarks.figures import machine, pct
from benchmarks.offline import offline_settings
from core.logging import configure_logging
from core.models import Category, Priority, Role, Ticket, TicketStatus
from services import tickets
from services.users import create_user
from services.worker import drain

PASSWORD = "bench-password"
WORDS = "vpn printer outlook laptop wifi password monitor teams badge disk update".split()
STATUSES = [TicketStatus.open] * 10 + [TicketStatus.resolved] * 6 + [TicketStatus.closed] * 3


def synthetic_tickets(n: int, owner_id: uuid.UUID) -> list[dict]:
    rng = random.Random(13)
    rows = []
    for i in range(n):
        words = rng.sample(WORDS, 3)
        status = TicketStatus.escalated if i % 20 == 0 else rng.choice(STATUSES)
        rows.append(
            {
                "id": uuid.uuid4(),
                "owner_id": owner_id,
                "title": f"{words[0].capitalize()} problem #{i}",
                "description": f"My {words[0]} and {words[1]} broke after the {words[2]}.",
                "category": rng.choice(list(Category)),
                "priority": rng.choice(list(Priority)),
                "status": status,
            }
        )
    return rows


async def timed_gets(client: httpx.AsyncClient, url: str, n: int) -> list[float]:
    times = []
    for _ in range(n):
        started = time.perf_counter()
        response = await client.get(url)
        times.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, (url, response.status_code, response.text[:300])
    return times


async def main(n_tickets: int, n_requests: int) -> None:
    configure_logging("WARNING")
    settings = offline_settings(prefix="inferra-console-bench-")
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        runtime = app.state.runtime
        async with runtime.sessionmaker.begin() as session:
            staff = await create_user(
                session=session, email="staff@bench.example", password=PASSWORD, role=Role.support
            )
            owner = await create_user(
                session=session, email="user@bench.example", password=PASSWORD, role=Role.user
            )
        loaded = time.perf_counter()
        rows = synthetic_tickets(n_tickets, owner.id)
        async with runtime.sessionmaker.begin() as session:
            for start in range(0, len(rows), 2000):
                await session.execute(insert(Ticket), rows[start : start + 2000])
        async with runtime.sessionmaker.begin() as session:
            ticket, _ = await tickets.create(
                session=session,
                runtime=runtime,
                owner=owner,
                title="VPN drops every few minutes",
                description="GlobalProtect disconnects when working from home.",
            )
        await drain(runtime)
        print(f"{n_tickets + 1} tickets loaded in {time.perf_counter() - loaded:.1f} s")

        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            form = await client.get("/console/login")
            token = re.search(r'name="csrftoken" value="([^"]+)"', form.text).group(1)
            signed = await client.post(
                "/console/login",
                data={"csrftoken": token, "username": staff.email, "password": PASSWORD},
            )
            assert signed.status_code == 303, signed.text
            pages = {
                "queue (default)": "/console/queue",
                "queue status+priority": "/console/queue?status=open&priority=high",
                "queue text search": "/console/queue?q=printer+outlook",
                "queue page 200": "/console/queue?page=200",
                "ticket (staff)": f"/console/tickets/{ticket.id}",
            }
            for url in pages.values():  # warm up (first template compile, plans)
                await timed_gets(client, url, 3)
            print(machine())
            print(f"{n_requests} sequential GETs each, in process (ASGI), console session cookie")
            for name, url in pages.items():
                ms = await timed_gets(client, url, n_requests)
                print(
                    f"{name:<22} p50={pct(ms, 0.5):6.1f} ms  p95={pct(ms, 0.95):6.1f} ms  "
                    f"mean={statistics.fmean(ms):6.1f} ms"
                )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tickets", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()
    asyncio.run(main(args.tickets, args.requests))
