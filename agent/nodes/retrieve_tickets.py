"""retrieve_tickets: similar resolved tickets (hybrid search over tickets and their comments)."""

from __future__ import annotations

import uuid
from dataclasses import asdict
from enum import Enum
from typing import Any

from langgraph.runtime import Runtime

from agent.context import AgentContext, context_of
from agent.evidence import validate_tickets
from agent.state import AgentState


def query_text(state: AgentState) -> str:
    ticket = state["ticket"]
    query = f"{ticket['title']}\n{ticket['description']}"
    if state.get("search_query") and state["search_query"] != ticket["title"]:
        query += f"\n{state['search_query']}"
    if state.get("staff_hint"):
        query += f"\n{state['staff_hint']}"
    return query


async def retrieve_tickets(state: AgentState, runtime: Runtime[AgentContext]) -> dict[str, Any]:
    ctx = context_of(runtime)
    async with ctx.sessionmaker() as session:
        hits = await ctx.retriever.similar_tickets(
            session, query_text(state), exclude=uuid.UUID(state["ticket"]["ticket_id"])
        )
    return {"similar_tickets": validate_tickets(jsonable(asdict(h)) for h in hits)}


def jsonable(row: dict[str, Any]) -> dict[str, Any]:
    """Checkpoints hold plain JSON: ids and enums become strings."""
    return {k: str(v) if isinstance(v, uuid.UUID | Enum) else v for k, v in row.items()}
