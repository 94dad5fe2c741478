"""The authenticated user comes from a cache, and a change to the user is seen at once: by this
process through the verbs, by every process through the database's notifications."""

from __future__ import annotations

import asyncio
import uuid

import httpx
from sqlalchemy import update

from core.models import Role, User
from core.user_cache import USERS

STAFF_ONLY = "/api/v1/kb/documents"


async def _cached(user_id: uuid.UUID) -> bool:
    """Whether the user is in the cache, once the notifications in flight have arrived."""
    await asyncio.sleep(0)
    return USERS.get(user_id) is not None


async def _until_dropped(user_id: uuid.UUID) -> None:
    """Waits for the notification of a change committed elsewhere (at most 10 s)."""
    for _ in range(1000):
        if USERS.get(user_id) is None:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the change was never notified")


async def test_a_request_caches_its_user_and_the_next_one_uses_it(
    client: httpx.AsyncClient, user
) -> None:
    assert USERS.enabled  # the runtime's listener is connected
    first = await client.get("/api/v1/users/me", headers=user.headers)
    assert first.status_code == 200
    assert await _cached(user.id)
    second = await client.get("/api/v1/users/me", headers=user.headers)
    assert second.json() == first.json()


async def test_a_demoted_user_is_refused_at_once(
    client: httpx.AsyncClient, make_actor, admin
) -> None:
    support = await make_actor(Role.support)
    assert (await client.get(STAFF_ONLY, headers=support.headers)).status_code == 200
    demoted = await client.patch(
        f"/api/v1/users/{support.id}/role", json={"role": "user"}, headers=admin.headers
    )
    assert demoted.status_code == 200
    response = await client.get(STAFF_ONLY, headers=support.headers)
    assert response.status_code == 403


async def test_a_deactivated_user_is_refused_at_once(
    client: httpx.AsyncClient, user, admin
) -> None:
    assert (await client.get("/api/v1/users/me", headers=user.headers)).status_code == 200
    gone = await client.delete(f"/api/v1/users/{user.id}", headers=admin.headers)
    assert gone.status_code == 204
    assert (await client.get("/api/v1/users/me", headers=user.headers)).status_code == 401


async def test_a_change_committed_by_another_process_drops_the_user(
    client: httpx.AsyncClient, make_actor, sessionmaker
) -> None:
    """As `inferra create-admin`, another API process or psql would: straight in the table."""
    support = await make_actor(Role.support)
    assert (await client.get(STAFF_ONLY, headers=support.headers)).status_code == 200
    assert await _cached(support.id)
    async with sessionmaker.begin() as session:
        await session.execute(update(User).where(User.id == support.id).values(role=Role.user))
    await _until_dropped(support.id)
    assert (await client.get(STAFF_ONLY, headers=support.headers)).status_code == 403
    async with sessionmaker.begin() as session:
        await session.execute(update(User).where(User.id == support.id).values(is_active=False))
    await _until_dropped(support.id)
    assert (await client.get("/api/v1/users/me", headers=support.headers)).status_code == 401


async def test_a_user_read_before_a_change_is_not_cached_after_it(user) -> None:
    generation = USERS.generation
    USERS.drop(user.id)  # a change lands while a request was reading the old row
    stale = User(id=user.id, email=user.email, hashed_password="x", role=Role.admin)
    USERS.put(stale, generation)
    assert USERS.get(user.id) is None
