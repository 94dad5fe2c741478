"""Feedback on AI resolutions and its summary for staff."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Query, status

from api.deps import AgentContextDep, CurrentUser, SessionDep, SupportUser
from api.feedback import service
from api.feedback.schemas import FeedbackCreate, FeedbackRead, FeedbackSummary, HelpfulnessRow
from api.schemas import ERROR_RESPONSES
from core.errors import InferraError
from core.repositories.feedback import FeedbackRepository

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
    context: AgentContextDep,
) -> FeedbackRead:
    feedback = await service.give(
        session=session,
        user=user,
        resolution_id=resolution_id,
        body=body,
        embedder=context.embedder,
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
    if since.tzinfo is None or until.tzinfo is None:
        raise InferraError(
            "since and until need a timezone (e.g. 2026-11-01T00:00:00Z)",
            code="validation_error",
            status_code=422,
        )
    if since >= until:
        raise InferraError("since must be before until", code="validation_error", status_code=422)
    figures = await FeedbackRepository(session).summary(since, until)
    overall = figures["overall"]
    return FeedbackSummary(
        since=since,
        until=until,
        overall=HelpfulnessRow(**overall[0]) if overall else None,
        by_category=[HelpfulnessRow(**r) for r in figures["by_category"]],
        by_model=[HelpfulnessRow(**r) for r in figures["by_model"]],
        not_helpful_reasons=figures["reasons"],
    )
