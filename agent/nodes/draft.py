"""draft: a structured resolution from the evidence (chat model, else the offline resolver)."""

from __future__ import annotations

import uuid
from typing import Any

import structlog
from langchain_core.exceptions import OutputParserException
from langgraph.runtime import Runtime
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from agent import offline, prompts
from agent.context import OFFLINE_MODEL, AgentContext, context_of
from agent.evidence import Evidence, collect
from agent.nodes.retrieve_tickets import query_text
from agent.schemas import DraftResolution
from agent.state import AgentState
from core.repositories.embeddings import EmbeddingRepository

log = structlog.get_logger(__name__)
KINDS = ("doc", "ticket")  # the evidence stored with an embedding


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
    async with ctx.sessionmaker() as session:
        closeness = await similarities(ctx, session, state, evidence)
        classified = await _sureness(ctx, session, state)
    result = offline.resolve(evidence, closeness, classified)
    return {**base, "draft": result.model_dump(), "drafted_by": OFFLINE_MODEL}


async def similarities(
    ctx: AgentContext, session: AsyncSession, state: AgentState, evidence: list[Evidence]
) -> dict[str, float]:
    """Cosine of the retrieval query (the ticket, with the staff hint of a fork) to each ticket
    and KB chunk of the evidence, by evidence id. The query's vector is the one retrieval
    embedded (cached) and the evidence's are those stored with it: nothing is embedded again,
    except evidence stored without an embedding."""
    items = [e for e in evidence if e["type"] in ("ticket", "doc")]
    if not items:
        return {}
    query = await ctx.retriever.query_vector(query_text(state))
    ids = {kind: [uuid.UUID(e["id"]) for e in items if e["type"] == kind] for kind in KINDS}
    found = await EmbeddingRepository(session).stored(ids["doc"], ids["ticket"])
    vectors = {str(key): vector for key, vector in found.items()}
    missing = [e for e in items if e["id"] not in vectors]
    if missing:
        fresh = await ctx.embedder.embed_documents([f"{e['title']}\n{e['text']}" for e in missing])
        vectors.update((e["id"], v) for e, v in zip(missing, fresh, strict=True))
    return {e["id"]: _dot(query, vectors[e["id"]]) for e in items}


def _dot(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True))  # unit vectors: the cosine


async def _sureness(
    ctx: AgentContext, session: AsyncSession, state: AgentState
) -> offline.Sureness:
    """How sure the offline classifier is of the run's category (its neighbours' query reuses
    the retrieval's cached vector)."""
    ticket = state["ticket"]
    neighbours = await ctx.retriever.labelled_neighbours(
        session, query_text(state), exclude=uuid.UUID(ticket["ticket_id"])
    )
    return offline.sureness(
        ticket["title"], ticket["description"], state.get("category"), neighbours
    )
