"""Public user shapes. UserCreate deliberately has no role: registration always yields `user`."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from fastapi_users import schemas
from pydantic import AfterValidator, ConfigDict, EmailStr, Field

from core.emails import ascii_email
from core.models import Role

# Registered, returned and looked up in its ASCII form (core/emails.py says why).
EmailAddress = Annotated[EmailStr, AfterValidator(ascii_email)]


class UserRead(schemas.BaseUser[uuid.UUID]):
    # As stored (ASCII): EmailStr would re-validate it and answer with the domain in Unicode.
    email: str = Field(json_schema_extra={"format": "email"})
    role: Role
    created_at: datetime


class UserCreate(schemas.BaseUserCreate):
    # Unknown fields (e.g. "role": "admin") are ignored, never applied.
    model_config = ConfigDict(extra="ignore")

    email: EmailAddress
    password: str = Field(min_length=8, max_length=128)
