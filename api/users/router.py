"""Users API: me (any user), list / change role / deactivate (admin)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, status

from api.deps import AdminUser, CurrentUser, PageDep, SessionDep
from api.schemas import ERROR_RESPONSES, PageOut, Text
from api.users.schemas import RoleUpdate, UserRead
from core.models import Role
from services import users

router = APIRouter(prefix="/users", tags=["users"], responses=ERROR_RESPONSES)


@router.get("/me", response_model=UserRead)
async def read_me(user: CurrentUser) -> UserRead:
    return UserRead.model_validate(user)


@router.get("", response_model=PageOut[UserRead])
async def list_users(
    _: AdminUser,
    session: SessionDep,
    page: PageDep,
    role: Role | None = None,
    is_active: bool | None = None,
    email: Annotated[
        Text | None, Query(max_length=320, description="substring of the email")
    ] = None,
) -> PageOut[UserRead]:
    result = await users.list_users(
        session=session, page=page, role=role, is_active=is_active, email_contains=email
    )
    return PageOut.of(result, UserRead)


@router.patch("/{user_id}/role", response_model=UserRead)
async def change_role(
    user_id: uuid.UUID, body: RoleUpdate, admin: AdminUser, session: SessionDep
) -> UserRead:
    user = await users.change_role(session=session, actor=admin, user_id=user_id, role=body.role)
    return UserRead.model_validate(user)


@router.delete("/{user_id}", status_code=status.HTTP_204_NO_CONTENT)
async def deactivate_user(user_id: uuid.UUID, admin: AdminUser, session: SessionDep) -> None:
    await users.deactivate(session=session, actor=admin, user_id=user_id)
