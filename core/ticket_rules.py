"""Ticket status rules, in one place: staff changes (PATCH), the agent's handoff and persist,
and the evals all go through these functions."""

from __future__ import annotations

from core.errors import InferraError
from core.models import TicketStatus

S = TicketStatus
TRANSITIONS: dict[TicketStatus, frozenset[TicketStatus]] = {
    S.open: frozenset({S.in_progress, S.resolved, S.closed, S.escalated}),
    S.in_progress: frozenset({S.open, S.resolved, S.closed, S.escalated}),
    S.escalated: frozenset({S.open, S.in_progress, S.resolved, S.closed}),
    S.resolved: frozenset({S.open, S.in_progress, S.closed}),
    S.closed: frozenset({S.open}),
}
# Where the agent may still act: a ticket someone resolved or closed is never reopened,
# escalated or re-resolved by a run that finishes late.
AGENT_WORKABLE = frozenset({S.open, S.in_progress, S.escalated})


def check_transition(current: TicketStatus, target: TicketStatus) -> None:
    """Raise a 409 unless staff may move a ticket from `current` to `target`."""
    if target != current and target not in TRANSITIONS[current]:
        raise InferraError(
            f"A ticket cannot go from {current.value} to {target.value}",
            code="invalid_transition",
            status_code=409,
            details={"allowed": sorted(s.value for s in TRANSITIONS[current])},
        )


def after_handoff(current: TicketStatus) -> TicketStatus:
    """A run waiting for staff escalates a ticket that is still being worked on."""
    return S.escalated if current in AGENT_WORKABLE else current


def after_resolution(current: TicketStatus) -> TicketStatus:
    """A persisted resolution resolves a ticket that is still being worked on."""
    return S.resolved if current in AGENT_WORKABLE else current


def accepts_resolution_on(current: TicketStatus, target: TicketStatus) -> bool:
    """Closing a resolved ticket accepts its latest resolution (it becomes evidence)."""
    return current is S.resolved and target is S.closed
