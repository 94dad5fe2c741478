from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, model_validator

from api.schemas import Text
from core.models import FeedbackReason, Verdict


class FeedbackCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    verdict: Verdict
    reason: FeedbackReason | None = None
    comment: Text | None = Field(default=None, max_length=2000)

    @model_validator(mode="after")
    def _reason_goes_with_not_helpful(self) -> FeedbackCreate:
        if self.verdict is Verdict.helpful and self.reason is not None:
            raise ValueError("a reason is only given with verdict not_helpful")
        return self


class FeedbackRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    resolution_id: uuid.UUID
    user_id: uuid.UUID
    verdict: Verdict
    reason: FeedbackReason | None
    comment: str | None
    created_at: datetime
    updated_at: datetime


class HelpfulnessRow(BaseModel):
    key: str
    total: int
    helpful: int
    helpful_rate: float | None


class FeedbackSummary(BaseModel):
    since: datetime
    until: datetime
    overall: HelpfulnessRow | None
    by_category: list[HelpfulnessRow]
    by_model: list[HelpfulnessRow]
    not_helpful_reasons: dict[str, int]
