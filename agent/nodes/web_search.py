"""web_search: a few web results; offline or failing it is recorded as skipped, never fatal.

The query never carries the requester's words as such: it is built from the category and the
technical terms of our vocabulary found in the ticket (and in the model's search query), so no
name, address, host or secret can leave; the provider scrubs it again."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from langgraph.runtime import Runtime

from agent.context import AgentContext, context_of
from agent.evidence import validate_web_results
from agent.offline import technical_query
from agent.state import AgentState
from core.providers import ProviderUnavailable


async def web_search(state: AgentState, runtime: Runtime[AgentContext]) -> dict[str, Any]:
    ctx = context_of(runtime)
    ticket = state["ticket"]
    text = f"{ticket['title']} {ticket['description']} {state.get('search_query') or ''}"
    query = technical_query(state.get("category") or "other", text)
    try:
        results = await ctx.web_search.search(query)
    except ProviderUnavailable as exc:
        return {"web_results": [], "skipped": [{"step": "web_search", "reason": str(exc)}]}
    return {"web_results": validate_web_results(asdict(r) for r in results)}
