"""draft: a structured resolution from the evidence (chat model, else the offline resolver)."""

from __future__ import annotations

from typing import Any

import structlog
from langchain_core.exceptions import OutputParserException
from langgraph.runtime import Runtime
from pydantic import ValidationError

from agent import offline, prompts
from agent.context import OFFLINE_MODEL, AgentContext, context_of
from agent.evidence import collect
from agent.schemas import DraftResolution
from agent.state import AgentState

log = structlog.get_logger(__name__)


async def draft(state: AgentState, runtime: Runtime[AgentContext]) -> dict[str, Any]:
    ctx = context_of(runtime)
    attempts = state.get("attempts", 0) + 1
    evidence = collect(state)
    ticket = state["ticket"]
    base = {"attempts": attempts, "draft": None, "draft_error": None, "skipped": []}
    if ctx.chat_model is not None:
        prompt = prompts.DRAFT.format(
            category=state.get("category"),
            priority=state.get("priority"),
            title=ticket["title"],
            description=ticket["description"],
            evidence=prompts.evidence_block(evidence),
            hint=prompts.HINT.format(hint=state["staff_hint"]) if state.get("staff_hint") else "",
            errors=prompts.RETRY.format(errors="\n".join(state["validation_errors"]))
            if state.get("validation_errors")
            else "",
        )
        try:
            result = await ctx.chat_model.with_structured_output(DraftResolution).ainvoke(prompt)
        except (ValidationError, OutputParserException) as exc:
            return {**base, "draft_error": f"The answer did not match the schema: {exc}"[:1500]}
        except Exception as exc:  # provider failure: answer offline rather than not at all
            log.warning("draft_model_failed", error=str(exc)[:200])
            base["skipped"] = [{"step": "draft_model", "reason": type(exc).__name__}]
        else:
            if result is None:
                return {**base, "draft_error": "The answer contained no structured resolution."}
            return {**base, "draft": result.model_dump(), "drafted_by": ctx.model_name}
    text = f"{ticket['title']}\n{ticket['description']}\n{state.get('staff_hint') or ''}"
    result = await offline.resolve(text.strip(), evidence, ctx.embedder)
    return {**base, "draft": result.model_dump(), "drafted_by": OFFLINE_MODEL}
