"""handoff: escalate the ticket and wait for support staff (LangGraph interrupt).

Staff resume the run with a HumanDecision: approve (persist the draft), edit (persist their
version, validated like a draft) or reject (the ticket stays escalated, the note is kept).
An answer that cannot be applied (malformed, an edit that fails validation, approving a draft
that fails it) is asked again with its problems: the runs API checks decisions before queueing
them, LangGraph Studio's `Command(resume=...)` reaches this node unchecked.
The node re-runs from the top on resume, so everything before interrupt() is idempotent.
"""

from __future__ import annotations

import uuid
from typing import Any, Literal

from langgraph.graph import END
from langgraph.runtime import Runtime
from langgraph.types import Command, interrupt
from pydantic import ValidationError

from agent.context import AgentContext, context_of
from agent.nodes.validate import check_draft
from agent.schemas import HumanDecision
from agent.state import AgentState
from core import ticket_rules
from core.models import TicketComment
from core.repositories.tickets import CommentRepository, TicketRepository


def checked_decision(state: AgentState, answer: Any) -> tuple[HumanDecision | None, list[str]]:
    """The decision in `answer`, and why it cannot be applied (empty: it can)."""
    try:
        decision = HumanDecision.model_validate(answer)
    except ValidationError as exc:
        return None, [
            f"{'.'.join(map(str, e['loc'])) or 'answer'}: {e['msg']}" for e in exc.errors()
        ]
    if decision.action == "edit":
        if decision.resolution is None:
            return decision, ["An edit needs a resolution."]
        edited = {**state, "draft": decision.resolution.model_dump(), "draft_error": None}
        return decision, check_draft(edited, by_staff=True, as_answer=True)
    if decision.action == "approve":
        if state.get("draft") is None:
            return decision, ["There is no draft to approve; edit instead."]
        return decision, check_draft({**state, "draft_error": None}, as_answer=True)
    return decision, []


async def handoff(
    state: AgentState, runtime: Runtime[AgentContext]
) -> Command[Literal["persist", "__end__"]]:
    ticket_id = uuid.UUID(state["ticket"]["ticket_id"])
    async with context_of(runtime).sessionmaker.begin() as session:
        ticket = await TicketRepository(session).get(ticket_id, for_update=True)
        if ticket is not None:
            ticket.status = ticket_rules.after_handoff(ticket.status)
    question = {
        "reason": state.get("handoff_reason"),
        "draft": state.get("draft"),
        "validation_errors": state.get("validation_errors", []),
    }
    decision, problems = checked_decision(state, interrupt(question))
    while decision is None or problems:
        decision, problems = checked_decision(
            state, interrupt({**question, "validation_errors": problems})
        )
    update: dict[str, Any] = {"human_decision": decision.model_dump(mode="json")}
    if decision.action == "edit" and decision.resolution is not None:
        by = f"human:{decision.by}" if decision.by else "human"
        return Command(
            goto="persist",
            update={**update, "draft": decision.resolution.model_dump(), "drafted_by": by},
        )
    if decision.action == "approve" and state.get("draft") is not None:
        return Command(goto="persist", update=update)
    if decision.note and decision.by:
        async with context_of(runtime).sessionmaker.begin() as session:
            await CommentRepository(session).add(
                TicketComment(
                    ticket_id=ticket_id,
                    author_id=uuid.UUID(decision.by),
                    body=f"Agent resolution rejected: {decision.note}",
                    internal=True,
                )
            )
    return Command(goto=END, update=update)
