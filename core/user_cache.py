"""Who a token belongs to, without a query per request: a short-lived process-wide cache of
users, kept true by Postgres.

Every request authenticates by loading its user (role, is_active) by the token's id. Here a
user read once is kept for `AUTH_USER_CACHE_SECONDS` and handed to the next requests as if just
loaded (merged into their session without a SELECT). It stays correct because
- a trigger on `users` (migration 0006) sends `NOTIFY inferra_user_changed, '<id>'` with every
  committed UPDATE or DELETE (and '*' on TRUNCATE), and each process LISTENs on its own
  connection and drops that user: a role change or a deactivation made by any process, or by
  hand in psql, is seen by all of them as soon as it commits;
- the verbs that change a role or deactivate also drop the user in their own process at once,
  before their commit, and an entry read before a drop is never stored after it (generations);
- the cache is used only while the LISTEN connection is up; when it drops, the cache is
  emptied and every request reads the database until it is back.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any

import psycopg
import structlog
from sqlalchemy import inspect
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import make_transient_to_detached

from core.models import User

log = structlog.get_logger(__name__)

CHANNEL = "inferra_user_changed"
EVERYONE = "*"
MAX_USERS = 10_000  # bounds the memory: ~1 KB per user


class UserCache:
    def __init__(self, ttl_seconds: float = 30.0, max_users: int = MAX_USERS) -> None:
        self.ttl_seconds = ttl_seconds
        self.max_users = max_users
        self.generation = 0  # bumped by every drop: a read older than a drop is not stored
        self._listeners = 0
        self._users: OrderedDict[uuid.UUID, tuple[float, dict[str, Any]]] = OrderedDict()

    @property
    def enabled(self) -> bool:
        return self.ttl_seconds > 0 and self._listeners > 0

    def get(self, user_id: uuid.UUID) -> dict[str, Any] | None:
        entry = self._users.get(user_id)
        if entry is None or entry[0] < time.monotonic():
            return None
        return entry[1]

    def put(self, user: User, read_at_generation: int) -> None:
        if not self.enabled or read_at_generation != self.generation:
            return
        self._users[user.id] = (time.monotonic() + self.ttl_seconds, _columns(user))
        self._users.move_to_end(user.id)
        while len(self._users) > self.max_users:
            self._users.popitem(last=False)

    def drop(self, user_id: uuid.UUID) -> None:
        self.generation += 1
        self._users.pop(user_id, None)

    def clear(self) -> None:
        self.generation += 1
        self._users.clear()

    def listening(self, up: bool) -> None:
        self._listeners += 1 if up else -1
        if not up:
            self.clear()


USERS = UserCache()


def _columns(user: User) -> dict[str, Any]:
    return {attr.key: getattr(user, attr.key) for attr in inspect(User).column_attrs}


async def load_user(
    session: AsyncSession,
    user_id: uuid.UUID,
    load: Callable[[uuid.UUID], Awaitable[User]],
    cache: UserCache = USERS,
) -> User:
    """The user with this id, attached to `session`: from the cache, or by `load` (which raises
    when there is none) and then cached."""
    if not cache.enabled:
        return await load(user_id)
    columns = cache.get(user_id)
    if columns is not None:
        user = User(**columns)
        make_transient_to_detached(user)  # as if loaded: changes to it are flushed as UPDATEs
        return await session.merge(user, load=False)
    generation = cache.generation
    user = await load(user_id)
    cache.put(user, generation)
    return user


async def listen_for_changes(
    conninfo: str, cache: UserCache = USERS, retry_seconds: float = 1.0
) -> None:
    """Drop each user the database says changed; runs until cancelled, reconnecting."""
    while True:
        try:
            async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as conn:
                await conn.execute(f"LISTEN {CHANNEL}")
                cache.listening(True)
                try:
                    async for notify in conn.notifies():
                        _apply(cache, notify.payload)
                finally:
                    cache.listening(False)
        except psycopg.Error as exc:
            log.warning("user_cache_listener_down", error=str(exc)[:200])
        await asyncio.sleep(retry_seconds)


def _apply(cache: UserCache, payload: str) -> None:
    if payload == EVERYONE:
        cache.clear()
        return
    try:
        cache.drop(uuid.UUID(payload))
    except ValueError:
        cache.clear()  # not ours to understand: the safe answer
