"""Demo data so that a newcomer sees something real. Idempotent: existing rows are kept."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from api.users.service import create_user
from core.models import Role
from core.repositories.users import UserRepository

DEMO_PASSWORD = "demo-password"
DEMO_USERS = [
    ("admin@demo.inferra.dev", Role.admin),
    ("support@demo.inferra.dev", Role.support),
    ("alice@demo.inferra.dev", Role.user),
    ("bob@demo.inferra.dev", Role.user),
]


async def seed(session: AsyncSession) -> list[str]:
    lines = []
    repo = UserRepository(session)
    for email, role in DEMO_USERS:
        if await repo.get_by_email(email) is None:
            await create_user(session=session, email=email, password=DEMO_PASSWORD, role=role)
            lines.append(f"user {email} ({role.value}) password={DEMO_PASSWORD}")
        else:
            lines.append(f"user {email} exists")
    return lines
