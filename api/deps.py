"""Annotated dependency aliases: routes read like prose.

Every dependency here is `async def`, even where nothing is awaited: FastAPI runs a plain `def`
dependency in its thread pool, a thread hop per request that costs far more CPU than the
function itself (measured: ~0.3 ms each, benchmarks/README.md, issue 17)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query, Request

from api.auth.backend import current_active_user
from api.session import SessionDep
from core.errors import Forbidden
from core.models import Role, User
from core.pagination import PageRequest
from core.settings import Settings
from services.resources import Runtime


async def get_settings(request: Request) -> Settings:
    return request.app.state.settings


SettingsDep = Annotated[Settings, Depends(get_settings)]


async def get_runtime(request: Request) -> Runtime:
    return request.app.state.runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
CurrentUser = Annotated[User, Depends(current_active_user)]


def require_roles(*roles: Role):
    async def check(user: CurrentUser) -> User:
        if user.role not in roles:
            raise Forbidden(f"This action needs one of the roles: {', '.join(roles)}")
        return user

    return check


SupportUser = Annotated[User, Depends(require_roles(Role.support, Role.admin))]
AdminUser = Annotated[User, Depends(require_roles(Role.admin))]

MAX_PAGE_SIZE = 100


async def page_request(
    page: Annotated[int, Query(ge=1, le=1_000_000, description="1-based page number")] = 1,
    page_size: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = 20,
) -> PageRequest:
    return PageRequest(page=page, page_size=page_size)


PageDep = Annotated[PageRequest, Depends(page_request)]

__all__ = [
    "AdminUser",
    "CurrentUser",
    "PageDep",
    "RuntimeDep",
    "SessionDep",
    "SettingsDep",
    "SupportUser",
]
