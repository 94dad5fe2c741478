"""Public user shapes. UserCreate deliberately has no role: registration always yields `user`."""

from __future__ import annotations

import uuid
from datetime import datetime

from fastapi_users import schemas
from pydantic import ConfigDict, Field

from core.models import Role


class UserRead(schemas.BaseUser[uuid.UUID]):
    role: Role
    created_at: datetime


class UserCreate(schemas.BaseUserCreate):
    # Unknown fields (e.g. "role": "admin") are ignored, never applied.
    model_config = ConfigDict(extra="ignore")

    password: str = Field(min_length=8, max_length=128)
