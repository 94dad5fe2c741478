"""Staff insight pages: feedback (helpfulness over time, by category and model, a chart, the
latest not-helpful reasons) and, for admins, users (roles, deactivation)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request, Response

from api.console.web import ConsoleAdmin, ConsoleRoute, ConsoleStaff, redirect, render
from api.deps import SessionDep
from core.models import Role
from core.pagination import PageRequest
from services import feedback, users

router = APIRouter(prefix="/console", route_class=ConsoleRoute, include_in_schema=False)
CHART_WIDTH, CHART_HEIGHT = 600, 160
CHART_MIN_SLOTS = 10  # a window with few days keeps narrow bars
USERS_PAGE_SIZE = 50


def bar_chart(days: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Bars of an inline SVG (drawn by the template): height is the day's helpful rate."""
    if not days:
        return []
    slot = CHART_WIDTH / max(len(days), CHART_MIN_SLOTS)
    bars = []
    for i, day in enumerate(days):
        rate = day["helpful_rate"] or 0.0
        height = max(2.0, rate * (CHART_HEIGHT - 20))
        bars.append(
            {
                "x": round(i * slot + slot * 0.1, 1),
                "y": round(CHART_HEIGHT - 20 - height, 1),
                "width": round(slot * 0.8, 1),
                "height": round(height, 1),
                "label": day["key"][:10],
                "rate": rate,
                "total": day["total"],
            }
        )
    return bars


@router.get("/feedback")
async def feedback_page(
    request: Request,
    user: ConsoleStaff,
    session: SessionDep,
    days: Annotated[int, Query(ge=1, le=365)] = 30,
) -> Response:
    until = datetime.now(UTC)
    since = until - timedelta(days=days)
    per_day = await feedback.per_day(session=session, since=since, until=until)
    context = {
        "days": days,
        "summary": await feedback.summary(session=session, since=since, until=until),
        "bars": bar_chart(per_day),
        "chart": {"width": CHART_WIDTH, "height": CHART_HEIGHT},
        "latest": await feedback.latest_not_helpful(session=session),
    }
    return render(request, "feedback.html", context, user=user)


@router.get("/admin/users")
async def users_page(
    request: Request,
    user: ConsoleAdmin,
    session: SessionDep,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
) -> Response:
    found = await users.list_users(
        session=session, page=PageRequest(page=page, page_size=USERS_PAGE_SIZE)
    )
    context = {"page": found, "roles": list(Role)}
    return render(request, "users.html", context, user=user)


@router.post("/admin/users/{user_id}/role")
async def change_role(
    request: Request,
    user_id: uuid.UUID,
    user: ConsoleAdmin,
    session: SessionDep,
    role: Annotated[Role, Form()],
) -> Response:
    await users.change_role(session=session, actor=user, user_id=user_id, role=role)
    return redirect(request, "/console/admin/users?changed=1")


@router.post("/admin/users/{user_id}/deactivate")
async def deactivate(
    request: Request, user_id: uuid.UUID, user: ConsoleAdmin, session: SessionDep
) -> Response:
    await users.deactivate(session=session, actor=user, user_id=user_id)
    return redirect(request, "/console/admin/users?changed=1")
