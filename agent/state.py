"""Graph state. Everything in it is plain JSON so checkpoints stay readable and diffable.

The evidence lists are typed (TypedDicts, i.e. plain dicts at runtime): a pydantic model in the
state would be pickled into the checkpoint as a class reference (which LangGraph is deprecating)
and would drop out of the runs API's step diffs, which summarise lists of dicts.
"""

from __future__ import annotations

import operator
from typing import Annotated, Any, NotRequired

from typing_extensions import TypedDict


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


class SimilarTicket(TypedDict):
    """A past resolved ticket as retrieved (core.retrieval.SimilarTicket with string ids)."""

    id: str
    title: str
    description: str
    resolution_summary: str
    solution_steps: list[str]
    score: float
    category: NotRequired[str | None]
    vector_rank: NotRequired[int | None]
    fulltext_rank: NotRequired[int | None]
    # Cosine similarity to the query (None: found by full-text only); the offline handoff uses it.
    similarity: NotRequired[float | None]


class DocChunk(TypedDict):
    """A knowledge-base section as retrieved (core.retrieval.DocChunkHit with string ids)."""

    id: str
    filename: str
    heading_path: str | None
    page: int | None
    text: str
    score: float
    document_id: NotRequired[str]
    vector_rank: NotRequired[int | None]
    fulltext_rank: NotRequired[int | None]
    similarity: NotRequired[float | None]


class WebResult(TypedDict):
    url: str
    title: str
    snippet: str


class AgentState(InputState, total=False):
    category: str
    priority: str
    search_query: str
    classified_by: str
    similar_tickets: list[SimilarTicket]
    doc_chunks: list[DocChunk]
    web_results: list[WebResult]
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
