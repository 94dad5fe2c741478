"""POST /auth/register (throttled per IP), POST /auth/login (failed logins throttled)."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from api.auth.backend import auth_backend, fastapi_users
from api.auth.rate_limit import (
    LOGIN_ROUTE_NAME,
    enforce_login_rate_limit,
    enforce_registration_rate_limit,
)
from api.auth.schemas import UserCreate, UserRead
from api.schemas import ErrorOut

router = APIRouter(prefix="/auth", tags=["auth"])
router.include_router(
    fastapi_users.get_register_router(UserRead, UserCreate),
    dependencies=[Depends(enforce_registration_rate_limit)],
    responses={429: {"model": ErrorOut, "description": "Too many registrations from this address"}},
)
login_router = fastapi_users.get_auth_router(auth_backend)
# Logout is left out: a stateless JWT cannot be revoked, so the route would only pretend.
login_router.routes = [r for r in login_router.routes if r.name == LOGIN_ROUTE_NAME]
router.include_router(
    login_router,
    # scope="function": the count is settled before the response is sent.
    dependencies=[Depends(enforce_login_rate_limit, scope="function")],
    responses={429: {"model": ErrorOut, "description": "Too many failed logins"}},
)
