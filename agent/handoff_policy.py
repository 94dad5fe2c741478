"""When an offline draft goes to staff instead of the requester: decided on the evidence.

The offline resolver can only restate what retrieval found, so whether to hand off is a question
about that evidence: is any resolved ticket or KB section close to this ticket? The closest must
reach `HANDOFF_MIN_SIMILARITY` (cosine). Calibrated on it_support_v1: the requests with no answer
in the data are those whose nearest ticket and nearest KB section both fall below 0.415 to 0.455
(the same precision and recall, 0.92 / 0.92, across that range); the top of it was taken because
a missed handoff (a requester given an unrelated answer) costs more than an extra one.
A chat model's draft is judged by its own confidence instead (agent/nodes/validate.py).
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


def offline_handoff_reason(state: AgentState, settings: Settings) -> str | None:
    """Why staff should take this ticket, in words they can act on; None: answer it."""
    draft = state.get("draft") or {}
    ticket = _closest(t.get("similarity") for t in state.get("similar_tickets") or [])
    doc = _closest(d.get("similarity") for d in state.get("doc_chunks") or [])
    closest = _closest([ticket, doc])
    if closest is not None and closest >= settings.handoff_min_similarity and draft.get("sources"):
        return None
    return (
        "No resolved ticket or knowledge-base article matches this request closely enough to "
        f"answer it (closest resolved ticket: {_shown(ticket)}, closest KB section: {_shown(doc)}; "
        f"similarity {settings.handoff_min_similarity:.2f} needed). It is probably outside what "
        "IT support has "
        "handled before (facilities, HR, travel, lab equipment) or a new kind of problem: answer "
        "or route it to the right team. If it is an IT problem, resolving it (or adding a KB "
        "article) lets the agent answer the next one."
    )
