"""Quotas and throttles over real HTTP: each limit answers 429 with Retry-After in the error
shape, staff are exempt from the requester quotas (not from forks/replays), a refused or failed
request costs nothing, and a flood from one client (200 registrations, 500 tickets) is cut off
at the limit while another user's requests keep their latency (p95 printed, before and during).
"""

from __future__ import annotations

import asyncio
import statistics
import time
import uuid
from collections.abc import Callable, Iterator

import httpx
import pytest
from sqlalchemy import func, select

from core.models import Role, Ticket
from tests.conftest import assert_error_shape
from tests.test_auth import clear_of_window_end, client_at

TICKETS = "/api/v1/tickets"
REGISTER = "/api/v1/auth/register"


def ticket(i: int = 0) -> dict[str, str]:
    return {"title": f"Printer {i} jams", "description": "Paper jam on the second floor printer"}


@pytest.fixture
def limits(app) -> Iterator[Callable[..., None]]:
    """Set limits on the app's settings for one test (restored after)."""
    settings = app.state.settings
    saved: dict[str, object] = {}

    def set_limits(**values: int) -> None:
        for name, value in values.items():
            saved.setdefault(name, getattr(settings, name))
            setattr(settings, name, value)

    yield set_limits
    for name, value in saved.items():
        setattr(settings, name, value)


@pytest.fixture
async def hour_window() -> None:
    await clear_of_window_end(3600, margin=120)


@pytest.fixture
async def minute_window() -> None:
    await clear_of_window_end(60, margin=20)


def assert_limited(response: httpx.Response, quota: str, limit: int, window: int) -> dict:
    error = assert_error_shape(response, 429, "rate_limited")
    retry_after = int(response.headers["Retry-After"])
    assert 1 <= retry_after <= window
    assert error["details"] == {"retry_after_seconds": retry_after, "quota": quota, "limit": limit}
    return error


async def file(client: httpx.AsyncClient, actor, i: int = 0) -> httpx.Response:
    return await client.post(TICKETS, json=ticket(i), headers=actor.headers)


# --- Each limit ---------------------------------------------------------------------------------


async def test_open_tickets_quota(client, user, support, limits, hour_window) -> None:
    limits(quota_open_tickets=2)
    first = (await file(client, user, 1)).json()
    assert (await file(client, user, 2)).status_code == 201
    assert_limited(await file(client, user, 3), "open_tickets", 2, 3600)
    # Staff resolve one: the requester may file again.
    resolved = await client.patch(
        f"{TICKETS}/{first['ticket']['id']}", json={"status": "resolved"}, headers=support.headers
    )
    assert resolved.status_code == 200, resolved.text
    assert (await file(client, user, 4)).status_code == 201
    # Staff are exempt.
    for i in range(3):
        assert (await file(client, support, i)).status_code == 201


async def test_tickets_per_hour(client, user, make_actor, limits, hour_window) -> None:
    limits(quota_tickets_per_hour=3)
    for i in range(3):
        assert (await file(client, user, i)).status_code == 201
    error = assert_limited(await file(client, user, 3), "tickets_per_hour", 3, 3600)
    assert "per hour" in error["message"]
    other = await make_actor(Role.user)  # per user
    assert (await file(client, other)).status_code == 201


async def test_manual_runs_per_hour(client, user, support, drain, limits, hour_window) -> None:
    limits(quota_manual_runs_per_hour=2)
    created = (await file(client, user)).json()
    await drain()
    url = f"/api/v1/llm/resolve_ticket/{created['ticket']['id']}"
    for _ in range(2):
        assert (await client.post(url, headers=user.headers)).status_code == 202
        await drain()
    assert_limited(await client.post(url, headers=user.headers), "manual_runs_per_hour", 2, 3600)
    for _ in range(3):  # staff are exempt
        assert (await client.post(url, headers=support.headers)).status_code == 202
        await drain()


async def test_forks_and_replays_per_hour_apply_to_staff(
    client, user, support, admin, drain, limits, hour_window
) -> None:
    limits(quota_forks_per_hour=2)
    run_id = (await file(client, user)).json()["run_id"]
    await drain()
    detail = (await client.get(f"/api/v1/runs/{run_id}", headers=support.headers)).json()
    checkpoint = next(s["checkpoint_id"] for s in detail["steps"] if s["node"] == "draft")
    replay = {"checkpoint_id": checkpoint}
    fork = {"checkpoint_id": checkpoint, "state_patch": {"staff_hint": "on guest Wi-Fi"}}
    for path, body in (("replay", replay), ("fork", fork)):
        response = await client.post(
            f"/api/v1/runs/{run_id}/{path}", json=body, headers=support.headers
        )
        assert response.status_code == 202, response.text
    limited = await client.post(
        f"/api/v1/runs/{run_id}/replay", json=replay, headers=support.headers
    )
    assert_limited(limited, "forks_per_hour", 2, 3600)
    # Per staff member: an admin still may.
    response = await client.post(f"/api/v1/runs/{run_id}/fork", json=fork, headers=admin.headers)
    assert response.status_code == 202, response.text


async def test_comments_per_minute(client, user, support, limits, minute_window) -> None:
    limits(quota_comments_per_minute=2)
    ticket_id = (await file(client, user)).json()["ticket"]["id"]
    url = f"{TICKETS}/{ticket_id}/comments"
    # Refused or failed requests cost nothing: comments on a ticket the user cannot see (404).
    for _ in range(4):
        missing = await client.post(
            f"{TICKETS}/{uuid.uuid4()}/comments", json={"body": "hello?"}, headers=user.headers
        )
        assert missing.status_code == 404
    for i in range(2):
        response = await client.post(url, json={"body": f"note {i}"}, headers=user.headers)
        assert response.status_code == 201, response.text
    limited = await client.post(url, json={"body": "one more"}, headers=user.headers)
    assert_limited(limited, "comments_per_minute", 2, 60)
    for i in range(4):  # staff are exempt
        response = await client.post(url, json={"body": f"staff {i}"}, headers=support.headers)
        assert response.status_code == 201


async def test_registrations_per_ip(app, client, limits, hour_window) -> None:
    limits(register_rate_limit_per_ip=2)
    async with client_at(app, "192.0.2.10") as crowd:
        for i in range(2):
            body = {"email": f"crowd{i}@example.com", "password": "correct-horse-battery"}
            assert (await crowd.post(REGISTER, json=body)).status_code == 201
        body = {"email": "crowd-late@example.com", "password": "correct-horse-battery"}
        limited = await crowd.post(REGISTER, json=body)
        error = assert_error_shape(limited, 429, "rate_limited")
        retry_after = int(limited.headers["Retry-After"])
        assert 1 <= retry_after <= 3600
        assert error["details"] == {"retry_after_seconds": retry_after}
    assert (await client.post(REGISTER, json=body)).status_code == 201  # another address


# --- Floods -------------------------------------------------------------------------------------


def p95(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[round(0.95 * (len(ordered) - 1))]


async def latencies(client: httpx.AsyncClient, actor, *, count: int | None = None, until=None):
    """Seconds per GET /tickets of `actor`, `count` times or until `until` is done."""
    samples: list[float] = []
    while (count is not None and len(samples) < count) or (until is not None and not until.done()):
        started = time.perf_counter()
        response = await client.get(TICKETS, headers=actor.headers)
        samples.append(time.perf_counter() - started)
        assert response.status_code == 200
    return samples


async def flood(requests: list[Callable[[], object]], concurrency: int) -> list[httpx.Response]:
    gate = asyncio.Semaphore(concurrency)

    async def one(send) -> httpx.Response:
        async with gate:
            return await send()

    return await asyncio.gather(*(one(send) for send in requests))


async def measured(client, actor, label: str, requests, concurrency: int):
    """The flood's responses; prints the other user's p95 before and during it."""
    await latencies(client, actor, count=5)  # warm
    before = await latencies(client, actor, count=40)
    started = time.perf_counter()
    flooding = asyncio.ensure_future(flood(requests, concurrency))
    during = await latencies(client, actor, until=flooding)
    responses = await flooding
    seconds = time.perf_counter() - started
    print(
        f"\n{label}: {len(responses)} requests in {seconds:.1f} s; other user's GET /tickets "
        f"p95 {p95(before) * 1000:.1f} ms before (median "
        f"{statistics.median(before) * 1000:.1f}), {p95(during) * 1000:.1f} ms during "
        f"(median {statistics.median(during) * 1000:.1f}, {len(during)} requests)"
    )
    assert p95(during) < 10.0  # a sanity bound only: the figures above are the result
    return responses


def assert_flood_cut(responses: list[httpx.Response], allowed: int, created: int) -> None:
    codes = [r.status_code for r in responses]
    assert codes.count(created) == allowed, sorted(set(codes))
    assert codes.count(429) == len(codes) - allowed
    for response in responses:
        if response.status_code == 429:
            assert_error_shape(response, 429, "rate_limited")
            assert int(response.headers["Retry-After"]) >= 1


async def test_a_registration_flood_is_cut_off_and_others_keep_their_latency(
    app, client, user, settings, hour_window
) -> None:
    async with client_at(app, "203.0.113.50") as flooder:

        def register(i: int):
            body = {"email": f"flood{i}@example.com", "password": "correct-horse-battery"}
            return lambda: flooder.post(REGISTER, json=body)

        responses = await measured(
            client, user, "200 registrations", [register(i) for i in range(200)], 16
        )
    assert_flood_cut(responses, settings.register_rate_limit_per_ip, 201)


async def test_password_hashing_does_not_stall_others(
    app, client, user, limits, hour_window
) -> None:
    """With the registration limit lifted, every request of the flood hashes a password (argon2,
    CPU-bound): in worker threads, the event loop keeps serving the other user."""
    limits(register_rate_limit_per_ip=10_000)
    async with client_at(app, "203.0.113.51") as flooder:

        def register(i: int):
            body = {"email": f"hash{i}@example.com", "password": "correct-horse-battery"}
            return lambda: flooder.post(REGISTER, json=body)

        responses = await measured(
            client, user, "24 registrations, all hashed", [register(i) for i in range(24)], 8
        )
    assert [r.status_code for r in responses] == [201] * 24


async def test_a_ticket_flood_is_cut_off_and_others_keep_their_latency(
    client, user, make_actor, sessionmaker, settings, hour_window
) -> None:
    flooder = await make_actor(Role.user)
    responses = await measured(
        client,
        user,
        "500 ticket posts",
        [lambda i=i: file(client, flooder, i) for i in range(500)],
        16,
    )
    allowed = min(settings.quota_open_tickets, settings.quota_tickets_per_hour)
    assert_flood_cut(responses, allowed, 201)
    async with sessionmaker() as session:
        stored = await session.scalar(
            select(func.count()).select_from(Ticket).where(Ticket.owner_id == flooder.id)
        )
    assert stored == allowed
    assert (await file(client, user)).status_code == 201  # the other user still files
