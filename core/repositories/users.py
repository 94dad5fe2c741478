"""SQL for users."""

from __future__ import annotations

import uuid

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.models import Role, User
from core.pagination import Page, PageRequest


class UserRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, user_id: uuid.UUID) -> User | None:
        return await self.session.get(User, user_id)

    async def get_by_email(self, email: str) -> User | None:
        stmt = select(User).where(func.lower(User.email) == email.lower())
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def list(
        self,
        page: PageRequest,
        *,
        role: Role | None = None,
        is_active: bool | None = None,
        email_contains: str | None = None,
    ) -> Page[User]:
        stmt = select(User)
        if role is not None:
            stmt = stmt.where(User.role == role)
        if is_active is not None:
            stmt = stmt.where(User.is_active == is_active)
        if email_contains:
            escaped = email_contains.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            stmt = stmt.where(User.email.ilike(f"%{escaped}%", escape="\\"))
        total = await self.session.scalar(select(func.count()).select_from(stmt.subquery()))
        rows = await self.session.scalars(
            stmt.order_by(User.created_at.desc(), User.id).offset(page.offset).limit(page.page_size)
        )
        return Page(list(rows), total or 0, page.page, page.page_size)

    async def lock_active_admins(self) -> list[User]:
        """Active admins, row-locked so two concurrent demotions cannot both pass the check."""
        stmt = (
            select(User)
            .where(User.role == Role.admin, User.is_active.is_(True))
            .order_by(User.id)
            .with_for_update()
        )
        return list(await self.session.scalars(stmt))
