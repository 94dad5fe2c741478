"""Feedback on AI resolutions and its summary for staff."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Query, status

from api.deps import CurrentUser, RuntimeDep, SessionDep, SupportUser
from api.feedback.schemas import FeedbackCreate, FeedbackRead, FeedbackSummary, HelpfulnessRow
from api.schemas import ERROR_RESPONSES
from services import feedback as service

router = APIRouter(tags=["feedback"], responses=ERROR_RESPONSES)


@router.post(
    "/resolutions/{resolution_id}/feedback",
    status_code=status.HTTP_201_CREATED,
    response_model=FeedbackRead,
)
async def give_feedback(
    resolution_id: uuid.UUID,
    body: FeedbackCreate,
    user: CurrentUser,
    session: SessionDep,
    runtime: RuntimeDep,
) -> FeedbackRead:
    feedback = await service.give(
        session=session,
        runtime=runtime,
        user=user,
        resolution_id=resolution_id,
        verdict=body.verdict,
        reason=body.reason,
        comment=body.comment,
    )
    return FeedbackRead.model_validate(feedback)


@router.get("/feedback/summary", response_model=FeedbackSummary)
async def feedback_summary(
    _: SupportUser,
    session: SessionDep,
    since: Annotated[datetime | None, Query(description="default: 30 days ago")] = None,
    until: Annotated[datetime | None, Query(description="default: now")] = None,
) -> FeedbackSummary:
    until = until or datetime.now(UTC)
    since = since or until - timedelta(days=30)
    figures = await service.summary(session=session, since=since, until=until)
    overall = figures["overall"]
    return FeedbackSummary(
        since=since,
        until=until,
        overall=HelpfulnessRow(**overall[0]) if overall else None,
        by_category=[HelpfulnessRow(**r) for r in figures["by_category"]],
        by_model=[HelpfulnessRow(**r) for r in figures["by_model"]],
        not_helpful_reasons=figures["reasons"],
    )
