"""handoff: escalate the ticket and wait for support staff (LangGraph interrupt).

Staff resume the run with a HumanDecision: approve (persist the draft), edit (persist their
version, validated like a draft) or reject (the ticket stays escalated, the note is kept).
The node re-runs from the top on resume, so everything before interrupt() is idempotent.
"""

from __future__ import annotations

import uuid
from typing import Any, Literal

from langgraph.graph import END
from langgraph.runtime import Runtime
from langgraph.types import Command, interrupt

from agent.context import AgentContext, context_of
from agent.schemas import HumanDecision
from agent.state import AgentState
from core import ticket_rules
from core.models import TicketComment
from core.repositories.tickets import CommentRepository, TicketRepository


async def handoff(
    state: AgentState, runtime: Runtime[AgentContext]
) -> Command[Literal["persist", "__end__"]]:
    ticket_id = uuid.UUID(state["ticket"]["ticket_id"])
    async with context_of(runtime).sessionmaker.begin() as session:
        ticket = await TicketRepository(session).get(ticket_id, for_update=True)
        if ticket is not None:
            ticket.status = ticket_rules.after_handoff(ticket.status)
    answer = interrupt(
        {
            "reason": state.get("handoff_reason"),
            "draft": state.get("draft"),
            "validation_errors": state.get("validation_errors", []),
        }
    )
    decision = HumanDecision.model_validate(answer)
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
