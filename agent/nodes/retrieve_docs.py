"""retrieve_docs: knowledge-base chunks (hybrid search, with feedback from the nearest resolved
ticket)."""

from __future__ import annotations

import uuid
from dataclasses import asdict
from typing import Any

from langgraph.runtime import Runtime

from agent.context import AgentContext, context_of
from agent.evidence import validate_chunks
from agent.nodes.retrieve_tickets import jsonable, query_text
from agent.state import AgentState


async def retrieve_docs(state: AgentState, runtime: Runtime[AgentContext]) -> dict[str, Any]:
    ctx = context_of(runtime)
    async with ctx.sessionmaker() as session:
        hits = await ctx.retriever.doc_chunks(
            session, query_text(state), exclude=uuid.UUID(state["ticket"]["ticket_id"])
        )
    return {"doc_chunks": validate_chunks(jsonable(asdict(h)) for h in hits)}
