from __future__ import annotations

from pydantic import BaseModel

from api.auth.schemas import UserRead
from core.models import Role

__all__ = ["RoleUpdate", "UserRead"]


class RoleUpdate(BaseModel):
    role: Role
