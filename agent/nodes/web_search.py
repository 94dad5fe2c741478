"""web_search: a few web results; offline or failing it is recorded as skipped, never fatal."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from langgraph.runtime import Runtime

from agent.context import AgentContext, context_of
from agent.evidence import validate_web_results
from agent.state import AgentState
from core.providers import ProviderUnavailable


async def web_search(state: AgentState, runtime: Runtime[AgentContext]) -> dict[str, Any]:
    query = state.get("search_query") or state["ticket"]["title"]
    try:
        results = await context_of(runtime).web_search.search(query)
    except ProviderUnavailable as exc:
        return {"web_results": [], "skipped": [{"step": "web_search", "reason": str(exc)}]}
    return {"web_results": validate_web_results(asdict(r) for r in results)}
