"""Feedback on resolutions: a helpful verdict from staff accepts the resolution (retrieval
evidence), a requester's is recorded only; not_helpful ones demote it in retrieval."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Any

import structlog

from core.errors import InferraError, NotFound
from core.history import accept_resolution
from core.models import Feedback, FeedbackReason, Resolution, Ticket, User, Verdict
from core.repositories.feedback import FeedbackRepository
from services.tickets import get_visible

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from services.resources import Runtime

log = structlog.get_logger(__name__)


async def give(
    *,
    session: AsyncSession,
    runtime: Runtime,
    user: User,
    resolution_id: uuid.UUID,
    verdict: Verdict,
    reason: FeedbackReason | None = None,
    comment: str | None = None,
) -> Feedback:
    resolution = await session.get(Resolution, resolution_id)
    if resolution is None:
        raise NotFound("Resolution not found")
    try:
        ticket = await get_visible(session=session, user=user, ticket_id=resolution.ticket_id)
    except NotFound:
        raise NotFound("Resolution not found") from None
    feedback = await FeedbackRepository(session).upsert(
        resolution_id=resolution.id,
        user_id=user.id,
        verdict=verdict,
        reason=reason,
        comment=comment,
    )
    if verdict is Verdict.helpful and user.is_staff:
        # Only staff enrol a resolution as evidence; a requester's verdict is feedback only.
        await accept_resolution(session, runtime.embedder, ticket, resolution)
    log.info("feedback_given", resolution_id=str(resolution.id), verdict=verdict.value)
    return feedback


async def summary(*, session: AsyncSession, since: datetime, until: datetime) -> dict[str, Any]:
    """Helpfulness overall, by category and by model, and the not-helpful reasons."""
    if since.tzinfo is None or until.tzinfo is None:
        raise InferraError(
            "since and until need a timezone (e.g. 2026-11-01T00:00:00Z)",
            code="validation_error",
            status_code=422,
        )
    if since >= until:
        raise InferraError("since must be before until", code="validation_error", status_code=422)
    return await FeedbackRepository(session).summary(since, until)


async def per_day(*, session: AsyncSession, since: datetime, until: datetime) -> list[dict]:
    """Helpfulness per day (key: the day's start, UTC), for the console's chart."""
    return await FeedbackRepository(session).by_day(since, until)


async def latest_not_helpful(
    *, session: AsyncSession, limit: int = 20
) -> list[tuple[Feedback, Ticket]]:
    """The newest not-helpful verdicts with their tickets (reasons and comments to read)."""
    return await FeedbackRepository(session).latest_not_helpful(limit)
