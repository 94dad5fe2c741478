"""Why a draft goes to staff, in words they can act on.

The decision is the draft's confidence against `AGENT_HANDOFF_CONFIDENCE` (agent/nodes/validate.py).
An offline draft's confidence rests on the nearest resolved ticket and on how sure the classifier
is (agent/offline.py), not on the KB: a KB about the organisation is close to its requests outside
IT too (README: evals). The reason says how close the evidence was and what staff should do.
"""

from __future__ import annotations

from collections.abc import Iterable

from agent.state import AgentState
from core.settings import Settings


def _closest(similarities: Iterable[float | None]) -> float | None:
    known = [s for s in similarities if s is not None]
    return max(known) if known else None


def _shown(similarity: float | None) -> str:
    return "none found" if similarity is None else f"{similarity:.2f}"


def _evidence(state: AgentState) -> tuple[str, float | None, float | None]:
    ticket = _closest(t.get("similarity") for t in state.get("similar_tickets") or [])
    doc = _closest(d.get("similarity") for d in state.get("doc_chunks") or [])
    evidence = f"closest resolved ticket: {_shown(ticket)}, closest KB section: {_shown(doc)}"
    return f"{evidence}; cosine similarity", ticket, doc


def _advice(ticket: float | None, doc: float | None, settings: Settings) -> str:
    def near(similarity: float | None) -> bool:
        return similarity is not None and similarity >= settings.classify_min_similarity

    if near(ticket):
        return (
            "The evidence is related but may not fit this case: check the draft's steps against "
            "the ticket before approving, edit them, or reject with a note."
        )
    if near(doc):
        return (
            "IT support has never resolved a request like this one; the KB section may only share "
            "its topic. Approve only if it answers the request; else answer it or route it to the "
            "right team."
        )
    return (
        "Nothing IT support resolved or documented resembles this request: it is probably "
        "outside IT's scope (facilities, HR, payroll, travel, clinical or lab equipment) or a new "
        "kind of problem. Answer it or route it to the right team; if it is an IT problem, "
        "resolving it (or adding a KB article) lets the agent answer the next one."
    )


def low_confidence_reason(state: AgentState, settings: Settings) -> str:
    confidence = (state.get("draft") or {}).get("confidence", 0.0)
    evidence, ticket, doc = _evidence(state)
    return (
        f"The draft's confidence {confidence:.2f} is below "
        f"{settings.agent_handoff_confidence:.2f} ({evidence}). {_advice(ticket, doc, settings)}"
    )


def no_solution_reason(state: AgentState, settings: Settings) -> str:
    """The drafter proposed no fix at all: there is nothing to approve, only to write."""
    evidence, ticket, doc = _evidence(state)
    return f"The draft proposes no fix ({evidence}). {_advice(ticket, doc, settings)}"
