"""Graph state. Everything in it is plain JSON so checkpoints stay readable and diffable."""

from __future__ import annotations

import operator
from typing import Annotated, Any, TypedDict


class TicketInput(TypedDict):
    ticket_id: str
    title: str
    description: str
    category_hint: str | None


class InputState(TypedDict):
    ticket: TicketInput


class Skipped(TypedDict):
    step: str
    reason: str


class AgentState(InputState, total=False):
    category: str
    priority: str
    search_query: str
    classified_by: str
    similar_tickets: list[dict[str, Any]]
    doc_chunks: list[dict[str, Any]]
    web_results: list[dict[str, Any]]
    draft: dict[str, Any] | None
    draft_error: str | None
    drafted_by: str
    attempts: int
    validation_errors: list[str]
    handoff_reason: str | None
    human_decision: dict[str, Any] | None
    resolution_id: str | None
    # Set by staff on a fork (e.g. "the user is on macOS"); the draft takes it into account.
    staff_hint: str | None
    # Replays and forks start a new run at the steps that were next at the parent checkpoint.
    start_at: list[str] | None
    # Parallel branches append to it in the same step, hence the reducer.
    skipped: Annotated[list[Skipped], operator.add]
