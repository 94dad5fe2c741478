from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from api.schemas import Text
from core.models import Category, Priority, RunStatus, RunTrigger, TicketStatus


class TicketCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: Text = Field(min_length=3, max_length=200)
    description: Text = Field(min_length=1, max_length=10_000)
    category_hint: Category | None = None


class TicketUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: TicketStatus | None = None
    priority: Priority | None = None
    assignee_id: uuid.UUID | None = None
    unassign: bool = False

    @model_validator(mode="after")
    def _something_to_change(self) -> TicketUpdate:
        if not (self.status or self.priority or self.assignee_id or self.unassign):
            raise ValueError("give at least one of status, priority, assignee_id, unassign")
        if self.assignee_id and self.unassign:
            raise ValueError("assignee_id and unassign exclude each other")
        return self


class ResolutionRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    run_id: uuid.UUID | None
    version: int
    summary: str
    diagnoses: list[str]
    solutions: list[dict[str, Any]]
    sources: list[dict[str, Any]]
    confidence: float
    model: str
    accepted_at: datetime | None
    created_at: datetime


class RunSummary(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    status: RunStatus
    trigger: RunTrigger
    created_at: datetime
    finished_at: datetime | None


class TicketRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    owner_id: uuid.UUID
    title: str
    description: str
    category_hint: Category | None
    category: Category | None
    priority: Priority
    status: TicketStatus
    assignee_id: uuid.UUID | None
    created_at: datetime
    updated_at: datetime


class TicketDetail(TicketRead):
    latest_resolution: ResolutionRead | None = None
    latest_run: RunSummary | None = None


class TicketCreated(BaseModel):
    ticket: TicketRead
    run_id: uuid.UUID


class RunQueued(BaseModel):
    run_id: uuid.UUID
    status: RunStatus


class CommentCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    body: Text = Field(min_length=1, max_length=5000)
    internal: bool = False


class CommentRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    ticket_id: uuid.UUID
    author_id: uuid.UUID
    body: str
    internal: bool
    created_at: datetime
