"""Users: role changes and deactivation never leave the service without an admin; accounts made
outside registration (create-admin, seed-demo, evals) get the same hashing and rules."""

from __future__ import annotations

import asyncio
import uuid
from typing import TYPE_CHECKING

import structlog
from fastapi_users.password import PasswordHelper

from core.emails import ascii_email
from core.errors import Conflict, InferraError, NotFound
from core.models import Role, User
from core.pagination import Page, PageRequest
from core.repositories.users import UserRepository
from core.user_cache import USERS

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

log = structlog.get_logger(__name__)
PASSWORD_MIN, PASSWORD_MAX = 8, 128  # the same bounds as registration (api/auth/schemas.py)
_passwords = PasswordHelper()


async def get_user(*, session: AsyncSession, user_id: uuid.UUID) -> User:
    user = await UserRepository(session).get(user_id)
    if user is None:
        raise NotFound("User not found")
    return user


async def list_users(
    *,
    session: AsyncSession,
    page: PageRequest,
    role: Role | None = None,
    is_active: bool | None = None,
    email_contains: str | None = None,
) -> Page[User]:
    return await UserRepository(session).list(
        page, role=role, is_active=is_active, email_contains=email_contains
    )


async def _ensure_not_last_admin(repo: UserRepository, user: User) -> None:
    if user.role is not Role.admin or not user.is_active:
        return
    admins = await repo.lock_active_admins()
    if [a.id for a in admins] == [user.id]:
        raise Conflict(
            "This is the last active admin; promote another admin first", code="last_admin"
        )


async def change_role(
    *, session: AsyncSession, actor: User, user_id: uuid.UUID, role: Role
) -> User:
    repo = UserRepository(session)
    user = await get_user(session=session, user_id=user_id)
    if role is not Role.admin:
        await _ensure_not_last_admin(repo, user)
    previous = user.role
    user.role = role
    await session.flush()
    USERS.drop(user.id)  # this process at once; the others when the change commits
    log.info(
        "user_role_changed",
        actor_id=str(actor.id),
        user_id=str(user.id),
        previous=previous.value,
        role=role.value,
    )
    return user


async def deactivate(*, session: AsyncSession, actor: User, user_id: uuid.UUID) -> None:
    """Soft delete: the account can no longer log in; its tickets stay."""
    repo = UserRepository(session)
    user = await get_user(session=session, user_id=user_id)
    await _ensure_not_last_admin(repo, user)
    user.is_active = False
    await session.flush()
    USERS.drop(user.id)  # this process at once; the others when the change commits
    log.info("user_deactivated", actor_id=str(actor.id), user_id=str(user.id))


def _checked_email(email: str) -> str:
    try:
        return ascii_email(email)
    except ValueError as exc:
        raise InferraError(f"{email!r}: {exc}", code="validation_error", status_code=422) from None


async def _hashed(password: str) -> str:
    if not PASSWORD_MIN <= len(password) <= PASSWORD_MAX:
        raise InferraError(
            f"The password must have {PASSWORD_MIN} to {PASSWORD_MAX} characters",
            code="validation_error",
            status_code=422,
        )
    return await asyncio.to_thread(_passwords.hash, password)  # slow on purpose: off the loop


async def create_user(*, session: AsyncSession, email: str, password: str, role: Role) -> User:
    """The only way to obtain a role other than `user` (registration never grants one)."""
    email = _checked_email(email)
    repo = UserRepository(session)
    hashed = await _hashed(password)
    if await repo.get_by_email(email) is not None:
        raise Conflict(f"A user with email {email} already exists", code="user_exists")
    user = User(email=email, hashed_password=hashed, role=role, is_active=True, is_verified=False)
    session.add(user)
    await session.flush()
    await session.refresh(user)
    log.info("user_created", user_id=str(user.id), role=role.value)
    return user


async def reset_password(*, session: AsyncSession, email: str, password: str) -> User:
    """An operator's reset (CLI): the account keeps its role, tickets and active flag."""
    hashed = await _hashed(password)
    user = await UserRepository(session).get_by_email(_checked_email(email))
    if user is None:
        raise NotFound(f"No user with email {email}; create one with inferra create-admin")
    user.hashed_password = hashed
    await session.flush()
    log.info("user_password_reset", user_id=str(user.id))
    return user
