"""POST /auth/register, POST /auth/login (rate-limited), POST /auth/logout."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from api.auth.backend import auth_backend, fastapi_users
from api.auth.rate_limit import enforce_login_rate_limit
from api.auth.schemas import UserCreate, UserRead

router = APIRouter(prefix="/auth", tags=["auth"])
router.include_router(fastapi_users.get_register_router(UserRead, UserCreate))
router.include_router(
    fastapi_users.get_auth_router(auth_backend),
    dependencies=[Depends(enforce_login_rate_limit)],
    responses={429: {"description": "Too many login attempts (see Retry-After)"}},
)
