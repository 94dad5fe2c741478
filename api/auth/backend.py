"""fastapi-users wiring: user manager, JWT bearer backend, current-user dependencies."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

import structlog
from fastapi import Depends, Request
from fastapi_users import BaseUserManager, FastAPIUsers, UUIDIDMixin
from fastapi_users.authentication import AuthenticationBackend, BearerTransport, JWTStrategy
from fastapi_users_db_sqlalchemy import SQLAlchemyUserDatabase

from api.session import SessionDep
from core.models import User
from core.settings import Settings

log = structlog.get_logger(__name__)


class UserManager(UUIDIDMixin, BaseUserManager[User, uuid.UUID]):
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


def get_jwt_strategy(request: Request) -> JWTStrategy:
    settings: Settings = request.app.state.settings
    return JWTStrategy(secret=settings.jwt_secret(), lifetime_seconds=settings.jwt_lifetime_seconds)


auth_backend = AuthenticationBackend(
    name="jwt", transport=bearer_transport, get_strategy=get_jwt_strategy
)

fastapi_users = FastAPIUsers[User, uuid.UUID](get_user_manager, [auth_backend])

current_active_user = fastapi_users.current_user(active=True)
