"""Evidence retrieved in a run, labelled T1.. (tickets), D1.. (KB chunks), W1.. (web) so that a
draft can cite it and the validator can check that every citation was really retrieved.

Each item keeps its typed source record (`source`): the offline resolver and the prompt read its
fields; `text` is a plain-text rendering for similarity and display, never parsed back.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Literal

from pydantic import TypeAdapter
from typing_extensions import TypedDict

from agent.state import AgentState, DocChunk, SimilarTicket, WebResult

MAX_TEXT = 1200
MAX_DESCRIPTION = 400  # of a past ticket: its problem, not its whole story
MAX_STEPS = 15  # as many as a Solution may have

_TICKETS = TypeAdapter(list[SimilarTicket])
_CHUNKS = TypeAdapter(list[DocChunk])
_WEB_RESULTS = TypeAdapter(list[WebResult])


def validate_tickets(rows: Iterable[Mapping[str, Any]] | None) -> list[SimilarTicket]:
    """Typed tickets from plain dicts (a node's hits, a checkpoint, a patched fork)."""
    return _TICKETS.validate_python(list(rows or []))


def validate_chunks(rows: Iterable[Mapping[str, Any]] | None) -> list[DocChunk]:
    return _CHUNKS.validate_python(list(rows or []))


def validate_web_results(rows: Iterable[Mapping[str, Any]] | None) -> list[WebResult]:
    return _WEB_RESULTS.validate_python(list(rows or []))


class _Item(TypedDict):
    label: str
    id: str
    title: str
    text: str
    score: float | None


class TicketEvidence(_Item):
    type: Literal["ticket"]
    source: SimilarTicket


class DocEvidence(_Item):
    type: Literal["doc"]
    source: DocChunk


class WebEvidence(_Item):
    type: Literal["web"]
    source: WebResult


Evidence = TicketEvidence | DocEvidence | WebEvidence


def ticket_evidence(label: str, ticket: SimilarTicket) -> TicketEvidence:
    # For similarity (the offline confidence is calibrated on this text); nothing parses it.
    steps = "\n".join(f"- {s}" for s in ticket["solution_steps"])
    problem = ticket["description"][:MAX_DESCRIPTION]
    text = f"{problem}\nResolution: {ticket['resolution_summary']}\n{steps}"
    return TicketEvidence(
        label=label,
        type="ticket",
        id=ticket["id"],
        title=f"Resolved ticket: {ticket['title']}",
        text=text[:MAX_TEXT],
        score=ticket["score"],
        source=ticket,
    )


def doc_evidence(label: str, chunk: DocChunk) -> DocEvidence:
    return DocEvidence(
        label=label,
        type="doc",
        id=chunk["id"],
        title=f"{chunk['filename']} > {chunk['heading_path'] or ''}".rstrip(" >"),
        text=chunk["text"][:MAX_TEXT],
        score=chunk["score"],
        source=chunk,
    )


def web_evidence(label: str, result: WebResult) -> WebEvidence:
    return WebEvidence(
        label=label,
        type="web",
        id=result["url"],
        title=result["title"],
        text=result["snippet"][:MAX_TEXT],
        score=None,
        source=result,
    )


def collect(state: AgentState) -> list[Evidence]:
    tickets = validate_tickets(state.get("similar_tickets"))
    chunks = validate_chunks(state.get("doc_chunks"))
    web = validate_web_results(state.get("web_results"))
    return [
        *(ticket_evidence(f"T{i}", t) for i, t in enumerate(tickets, 1)),
        *(doc_evidence(f"D{i}", d) for i, d in enumerate(chunks, 1)),
        *(web_evidence(f"W{i}", w) for i, w in enumerate(web, 1)),
    ]


def by_label(state: AgentState) -> dict[str, Evidence]:
    return {item["label"]: item for item in collect(state)}
