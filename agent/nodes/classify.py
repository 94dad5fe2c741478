"""classify: category, priority and a search query (chat model, else the offline classifier:
a vote of the nearest resolved tickets' categories with keyword rules)."""

from __future__ import annotations

import uuid
from typing import Any

import structlog
from langgraph.runtime import Runtime

from agent import offline, prompts
from agent.context import AgentContext, context_of
from agent.nodes.retrieve_tickets import query_text
from agent.schemas import Classification
from agent.state import AgentState

log = structlog.get_logger(__name__)


async def classify(state: AgentState, runtime: Runtime[AgentContext]) -> dict[str, Any]:
    ticket = state["ticket"]
    model = context_of(runtime).chat_model
    skipped = []
    result: Classification | None = None
    if model is not None:
        hint = (
            f"The requester suggested: {ticket['category_hint']}" if ticket["category_hint"] else ""
        )
        prompt = prompts.CLASSIFY.format(
            title=ticket["title"], description=ticket["description"], hint=hint
        )
        try:
            result = await model.with_structured_output(Classification).ainvoke(prompt)
        except Exception as exc:  # provider down or unparsable: fall back, say so
            log.warning("classify_model_failed", error=str(exc)[:200])
            skipped.append({"step": "classify_model", "reason": f"{type(exc).__name__}"})
    classified_by = context_of(runtime).model_name if result is not None else OFFLINE_CLASSIFIER
    if result is None:
        result = await _classify_offline(state, context_of(runtime))
    return {
        "category": result.category.value,
        "priority": result.priority.value,
        "search_query": result.search_query,
        "classified_by": classified_by,
        "skipped": skipped,
    }


OFFLINE_CLASSIFIER = "offline-neighbours"


async def _classify_offline(state: AgentState, ctx: AgentContext) -> Classification:
    ticket = state["ticket"]
    # The retrieve nodes' query: its embedding is computed once for the three of them.
    async with ctx.sessionmaker() as session:
        neighbours = await ctx.retriever.labelled_neighbours(
            session, query_text(state), exclude=uuid.UUID(ticket["ticket_id"])
        )
    return offline.classify(
        ticket["title"],
        ticket["description"],
        ticket["category_hint"],
        neighbours,
        ctx.settings.classify_min_similarity,
    )
