"""Feedback on resolutions: a helpful verdict accepts the resolution (retrieval evidence);
not_helpful ones demote it in retrieval."""

from __future__ import annotations

import uuid

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from api.feedback.schemas import FeedbackCreate
from api.tickets.service import get_visible
from core.errors import NotFound
from core.history import accept_resolution
from core.models import Feedback, Resolution, User, Verdict
from core.providers.embeddings import Embedder
from core.repositories.feedback import FeedbackRepository

log = structlog.get_logger(__name__)


async def give(
    *,
    session: AsyncSession,
    user: User,
    resolution_id: uuid.UUID,
    body: FeedbackCreate,
    embedder: Embedder,
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
        verdict=body.verdict,
        reason=body.reason,
        comment=body.comment,
    )
    if body.verdict is Verdict.helpful:
        await accept_resolution(session, embedder, ticket, resolution)
    log.info("feedback_given", resolution_id=str(resolution.id), verdict=body.verdict.value)
    return feedback
