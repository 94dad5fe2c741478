from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, field_validator, model_validator

from core.models import Category, Priority, RunStatus, RunTrigger, TicketStatus
from core.text import CommentBody, TicketDescription, TicketTitle


class TicketCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: TicketTitle
    description: TicketDescription
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


SIMILAR_TICKET = "A similar resolved ticket"


class SourceForRequester(BaseModel):
    """A cited source as a requester sees it: knowledge-base sections and web pages by name;
    another user's ticket only as "a similar resolved ticket" (no title, text or id)."""

    type: str
    title: str
    url: str | None = None

    @classmethod
    def of(cls, source: dict[str, Any]) -> SourceForRequester:
        if source.get("type") == "ticket":
            return cls(type="ticket", title=SIMILAR_TICKET)
        url = source.get("id") if source.get("type") == "web" else None
        return cls(type=str(source.get("type")), title=str(source.get("title", "")), url=url)


class SourceForStaff(BaseModel):
    """A cited source as staff see it: everything, with a link to the record."""

    label: str
    type: str
    id: str
    title: str
    href: str | None = None

    @classmethod
    def of(cls, source: dict[str, Any]) -> SourceForStaff:
        kind, ident = str(source.get("type")), str(source.get("id"))
        href = {"ticket": f"/api/v1/tickets/{ident}", "web": ident}.get(kind)
        return cls(
            label=str(source.get("label", "")),
            type=kind,
            id=ident,
            title=str(source.get("title", "")),
            href=href,
        )


class ResolutionForRequester(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    version: int
    summary: str
    diagnoses: list[str]
    solutions: list[dict[str, Any]]
    sources: list[SourceForRequester]
    confidence: float
    model: str
    accepted_at: datetime | None
    created_at: datetime

    @field_validator("sources", mode="before")
    @classmethod
    def _as_seen_by_a_requester(cls, sources: list[Any]) -> list[Any]:
        return [SourceForRequester.of(s) if isinstance(s, dict) else s for s in sources]


class ResolutionForStaff(ResolutionForRequester):
    run_id: uuid.UUID | None
    sources: list[SourceForStaff]  # type: ignore[assignment]

    @field_validator("sources", mode="before")
    @classmethod
    def _as_seen_by_staff(cls, sources: list[Any]) -> list[Any]:
        return [SourceForStaff.of(s) if isinstance(s, dict) else s for s in sources]


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


class TicketForRequester(TicketRead):
    """The owner's view of a ticket: the resolution without other users' tickets."""

    latest_resolution: ResolutionForRequester | None = None
    latest_run: RunSummary | None = None


class TicketForStaff(TicketRead):
    latest_resolution: ResolutionForStaff | None = None
    latest_run: RunSummary | None = None


class TicketCreated(BaseModel):
    ticket: TicketRead
    run_id: uuid.UUID


class RunQueued(BaseModel):
    run_id: uuid.UUID
    status: RunStatus


class CommentCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    body: CommentBody
    internal: bool = False


class CommentRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    ticket_id: uuid.UUID
    author_id: uuid.UUID
    body: str
    internal: bool
    created_at: datetime
