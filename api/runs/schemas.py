from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from agent.schemas import DraftResolution
from api.schemas import Text
from core.models import Category, Priority, RunStatus, RunTrigger
from core.text import TicketDescription, TicketTitle


class RunPublic(BaseModel):
    """What a ticket's owner sees of a run."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    ticket_id: uuid.UUID
    status: RunStatus
    trigger: RunTrigger
    model: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


class RunRead(RunPublic):
    """What staff see: also errors, lineage, skipped steps and attempts."""

    error: str | None
    parent_run_id: uuid.UUID | None
    parent_checkpoint_id: str | None
    state_patch: dict[str, Any] | None
    skipped_steps: list[dict[str, Any]]
    attempts: int
    pending_decision: dict[str, Any] | None


class StateChange(BaseModel):
    key: str
    before: Any
    after: Any


class Step(BaseModel):
    step: int
    node: str
    status: str
    checkpoint_id: str
    result_checkpoint_id: str | None
    started_at: datetime
    finished_at: datetime | None
    duration_ms: float | None
    changes: list[StateChange]
    error: str | None = None
    interrupt: Any = None


class RunDetail(RunRead):
    steps: list[Step]


class ReplayRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    checkpoint_id: Text = Field(min_length=1, max_length=100)


class TicketPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: TicketTitle | None = None
    description: TicketDescription | None = None


class StatePatch(BaseModel):
    """The state keys staff may edit on a fork; anything else is refused (422)."""

    model_config = ConfigDict(extra="forbid")

    category: Category | None = None
    priority: Priority | None = None
    search_query: Text | None = Field(default=None, min_length=3, max_length=300)
    staff_hint: Text | None = Field(default=None, min_length=1, max_length=2000)
    ticket: TicketPatch | None = None
    draft: DraftResolution | None = None


class ForkRequest(ReplayRequest):
    state_patch: StatePatch


class ResumeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    action: str = Field(pattern="^(approve|edit|reject)$")
    resolution: DraftResolution | None = None
    note: Text | None = Field(default=None, max_length=5000)


class RunQueuedOut(BaseModel):
    run_id: uuid.UUID
    status: RunStatus
    trigger: RunTrigger
    parent_run_id: uuid.UUID
    parent_checkpoint_id: str
