"""fastapi-users wiring: user manager, JWT bearer backend, current-user dependencies."""

from __future__ import annotations

import asyncio
import os
import time
import uuid
import weakref
from collections import OrderedDict
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

import jwt
import structlog
from fastapi import Depends, Request
from fastapi.security import OAuth2PasswordRequestForm
from fastapi_users import BaseUserManager, FastAPIUsers, UUIDIDMixin, exceptions, schemas
from fastapi_users.authentication import AuthenticationBackend, BearerTransport, JWTStrategy
from fastapi_users.jwt import decode_jwt
from fastapi_users_db_sqlalchemy import SQLAlchemyUserDatabase

from api.session import SessionDep
from core.emails import ascii_email
from core.models import User
from core.settings import Settings
from core.user_cache import load_user

log = structlog.get_logger(__name__)
T = TypeVar("T")


def _cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


# argon2 (pwdlib's default: 64 MiB, 3 passes, 4 lanes) keeps up to 4 cores busy per hash, for
# ~0.1-0.5 s by design. More hashes at once than the cores can run only make everyone wait:
# measured on 2 cores, 24 registrations at once in free threads took another user's p95 from
# ~10 ms to 0.8-1.6 s; one hash at a time, to 0.1-0.16 s.
HASHING_SLOTS = max(1, _cpus() // 4)
_hashing_gates: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = (
    weakref.WeakKeyDictionary()
)


async def _off_the_loop(fn: Callable[..., T], *args: Any) -> T:
    """`fn(*args)` in a worker thread (asyncio.to_thread), at most HASHING_SLOTS at a time; the
    others wait on the event loop, not in the thread pool that embeddings share."""
    loop = asyncio.get_running_loop()
    gate = _hashing_gates.get(loop)
    if gate is None:
        gate = _hashing_gates[loop] = asyncio.Semaphore(HASHING_SLOTS)
    async with gate:
        return await asyncio.to_thread(fn, *args)


class UserManager(UUIDIDMixin, BaseUserManager[User, uuid.UUID]):
    """fastapi-users' manager, with the password hashing run off the event loop: the library
    calls it on the loop, where it stalls every other request of the process while it hashes.
    Otherwise `create` and `authenticate` are the library's own (fastapi-users 15)."""

    async def create(
        self,
        user_create: schemas.UC,
        safe: bool = False,
        request: Request | None = None,
    ) -> User:
        await self.validate_password(user_create.password, user_create)
        if await self.user_db.get_by_email(user_create.email) is not None:
            raise exceptions.UserAlreadyExists()
        user_dict = (
            user_create.create_update_dict() if safe else user_create.create_update_dict_superuser()
        )
        password = user_dict.pop("password")
        user_dict["hashed_password"] = await _off_the_loop(self.password_helper.hash, password)
        created_user = await self.user_db.create(user_dict)
        await self.on_after_register(created_user, request)
        return created_user

    async def authenticate(self, credentials: OAuth2PasswordRequestForm) -> User | None:
        try:
            user = await self.get_by_email(credentials.username)
        except exceptions.UserNotExists:
            # Hash anyway, so an unknown email takes as long as a wrong password (timing).
            await _off_the_loop(self.password_helper.hash, credentials.password)
            return None
        verified, updated_password_hash = await _off_the_loop(
            self.password_helper.verify_and_update, credentials.password, user.hashed_password
        )
        if not verified:
            return None
        if updated_password_hash is not None:  # a stronger hash than the stored one
            await self.user_db.update(user, {"hashed_password": updated_password_hash})
        return user

    async def get_by_email(self, user_email: str) -> User:
        """Stored addresses are ASCII: a domain typed in Unicode finds its user too."""
        try:
            user_email = ascii_email(user_email)
        except ValueError:
            pass  # not an address: nothing will match it
        return await super().get_by_email(user_email)

    async def get(self, id: uuid.UUID) -> User:
        """Every authenticated request asks for its user: from the process's user cache when it
        can (core/user_cache.py: dropped as soon as the user changes)."""
        return await load_user(self.user_db.session, id, super().get)

    async def on_after_register(self, user: User, request: Request | None = None) -> None:
        log.info("user_registered", user_id=str(user.id))


class UserDatabase(SQLAlchemyUserDatabase[User, uuid.UUID]):
    """fastapi-users' adapter commits on every write; here the caller owns the transaction."""

    async def create(self, create_dict: dict[str, Any]) -> User:
        user = User(**create_dict)
        self.session.add(user)
        await self.session.flush()
        await self.session.refresh(user)
        return user

    async def update(self, user: User, update_dict: dict[str, Any]) -> User:
        for key, value in update_dict.items():
            setattr(user, key, value)
        await self.session.flush()
        return user

    async def delete(self, user: User) -> None:
        raise NotImplementedError("users are deactivated, never deleted")


# Plain async functions, not generators: they depend on the function-scoped session.
async def get_user_db(session: SessionDep) -> UserDatabase:
    return UserDatabase(session, User)


async def get_user_manager(
    request: Request, user_db: Annotated[UserDatabase, Depends(get_user_db)]
) -> UserManager:
    manager = UserManager(user_db)
    secret = request.app.state.settings.jwt_secret()
    manager.reset_password_token_secret = secret
    manager.verification_token_secret = secret
    return manager


bearer_transport = BearerTransport(tokenUrl="/api/v1/auth/login")


class VerifiedTokens:
    """Tokens whose signature and audience were checked, with their subject and expiry: a token
    seen again is not decoded again (PyJWT's decode and HMAC are ~5-10 % of a ticket request's
    CPU; benchmarks/README.md, issue 17). A token is a fixed string, so the check's answer holds
    until the token expires; only tokens with an expiry and no not-before are kept."""

    def __init__(self, max_tokens: int = 10_000) -> None:
        self.max_tokens = max_tokens
        self._tokens: OrderedDict[str, tuple[str, float]] = OrderedDict()

    def subject(self, token: str, now: float | None = None) -> str | None:
        entry = self._tokens.get(token)
        if entry is None:
            return None
        subject, expires = entry
        if (time.time() if now is None else now) >= expires:  # as PyJWT: valid while now < exp
            del self._tokens[token]
            return None
        return subject

    def remember(self, token: str, claims: dict[str, Any]) -> None:
        expires, subject = claims.get("exp"), claims.get("sub")
        if not isinstance(expires, int | float) or "nbf" in claims or not isinstance(subject, str):
            return
        self._tokens[token] = (subject, float(expires))
        while len(self._tokens) > self.max_tokens:
            self._tokens.popitem(last=False)


class CheckedOnceJWTStrategy(JWTStrategy[User, uuid.UUID]):
    """fastapi-users' JWT strategy (15.x `read_token`), with each token checked once."""

    def __init__(self, secret: str, lifetime_seconds: int) -> None:
        super().__init__(secret=secret, lifetime_seconds=lifetime_seconds)
        self.verified = VerifiedTokens()

    async def read_token(
        self, token: str | None, user_manager: BaseUserManager[User, uuid.UUID]
    ) -> User | None:
        if token is None:
            return None
        subject = self.verified.subject(token)
        if subject is None:
            try:
                claims = decode_jwt(
                    token, self.decode_key, self.token_audience, algorithms=[self.algorithm]
                )
            except jwt.PyJWTError:
                return None
            subject = claims.get("sub")
            if subject is None:
                return None
            self.verified.remember(token, claims)
        try:
            return await user_manager.get(user_manager.parse_id(subject))
        except (exceptions.UserNotExists, exceptions.InvalidID):
            return None


async def get_jwt_strategy(request: Request) -> JWTStrategy:
    """One strategy per app (its settings are fixed), so that its checked tokens are kept.
    async: a plain def dependency would run in the thread pool (api/deps.py)."""
    strategy = getattr(request.app.state, "jwt_strategy", None)
    if strategy is None:
        settings: Settings = request.app.state.settings
        strategy = CheckedOnceJWTStrategy(settings.jwt_secret(), settings.jwt_lifetime_seconds)
        request.app.state.jwt_strategy = strategy
    return strategy


auth_backend = AuthenticationBackend(
    name="jwt", transport=bearer_transport, get_strategy=get_jwt_strategy
)

fastapi_users = FastAPIUsers[User, uuid.UUID](get_user_manager, [auth_backend])

current_active_user = fastapi_users.current_user(active=True)
