"""Why a draft goes to staff, in words they can act on.

The decision itself stays the draft's confidence against `AGENT_HANDOFF_CONFIDENCE`
(agent/nodes/validate.py). An evidence-based decision for offline drafts (hand off when neither
the closest resolved ticket nor the closest KB section reaches a cosine similarity calibrated on
it_support_v1) raised v1's handoff precision from 0.63 to 0.92 but lowered v2's recall from 1.00
to 0.82, so it was rejected (tune on v1, reject what hurts v2; README: evals). The reason
still says how close the evidence was, which is what staff need to decide.
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


def _evidence(state: AgentState) -> tuple[str, float | None]:
    ticket = _closest(t.get("similarity") for t in state.get("similar_tickets") or [])
    doc = _closest(d.get("similarity") for d in state.get("doc_chunks") or [])
    evidence = f"closest resolved ticket: {_shown(ticket)}, closest KB section: {_shown(doc)}"
    return f"{evidence}; cosine similarity", _closest([ticket, doc])


def _advice(closest: float | None, settings: Settings) -> str:
    if closest is None or closest < settings.classify_min_similarity:
        return (
            "Nothing IT support resolved or documented resembles this request: it is probably "
            "outside IT's scope (facilities, HR, travel, lab equipment) or a new kind of problem. "
            "Answer it or route it to the right team; if it is an IT problem, resolving it (or "
            "adding a KB article) lets the agent answer the next one."
        )
    return (
        "The evidence is related but may not fit this case: check the draft's steps against "
        "the ticket before approving, edit them, or reject with a note."
    )


def low_confidence_reason(state: AgentState, settings: Settings) -> str:
    confidence = (state.get("draft") or {}).get("confidence", 0.0)
    evidence, closest = _evidence(state)
    return (
        f"The draft's confidence {confidence:.2f} is below "
        f"{settings.agent_handoff_confidence:.2f} ({evidence}). {_advice(closest, settings)}"
    )


def no_solution_reason(state: AgentState, settings: Settings) -> str:
    """The drafter proposed no fix at all: there is nothing to approve, only to write."""
    evidence, closest = _evidence(state)
    return f"The draft proposes no fix ({evidence}). {_advice(closest, settings)}"
