"""Rules about users: role changes and deactivation never leave the service without an admin."""

from __future__ import annotations

import uuid

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import Conflict, NotFound
from core.models import Role, User
from core.repositories.users import UserRepository

log = structlog.get_logger(__name__)


async def get_user(*, session: AsyncSession, user_id: uuid.UUID) -> User:
    user = await UserRepository(session).get(user_id)
    if user is None:
        raise NotFound("User not found")
    return user


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
    log.info("user_deactivated", actor_id=str(actor.id), user_id=str(user.id))


async def create_user(*, session: AsyncSession, email: str, password: str, role: Role) -> User:
    """Create a user through fastapi-users (same hashing and validation as registration).

    Used by the CLI (create-admin, seed-demo): the only way to obtain a role other than `user`.
    """
    from api.auth.backend import UserDatabase, UserManager
    from api.auth.schemas import UserCreate

    repo = UserRepository(session)
    existing = await repo.get_by_email(email)
    if existing is not None:
        raise Conflict(f"A user with email {email} already exists", code="user_exists")
    manager = UserManager(UserDatabase(session, User))
    user = await manager.create(UserCreate(email=email, password=password), safe=True)
    user.role = role
    await session.flush()
    log.info("user_created", user_id=str(user.id), role=role.value)
    return user
