"""persist: store the resolution (one version per run), update the ticket, embed it for retrieval.

Idempotent per run (resolutions.run_id is unique): a run resumed after a crash never writes a
second resolution.
"""

from __future__ import annotations

import uuid
from typing import Any

import structlog
from langchain_core.runnables import RunnableConfig
from langgraph.runtime import Runtime

from agent.context import AgentContext, context_of
from agent.evidence import by_label
from agent.schemas import DraftResolution
from agent.state import AgentState
from core import ticket_rules
from core.history import accept_resolution, ticket_retrieval_text
from core.models import Category, Priority
from core.repositories.tickets import ResolutionRepository, TicketRepository

log = structlog.get_logger(__name__)


def retrieval_text(title: str, description: str, draft: DraftResolution) -> str:
    steps = [step for s in draft.solutions for step in s.steps]
    return ticket_retrieval_text(title, description, draft.summary, steps)


def cited_sources(state: AgentState, draft: DraftResolution) -> list[dict[str, Any]]:
    evidence = by_label(state)
    return [
        {k: evidence[label][k] for k in ("label", "type", "id", "title")}
        for label in draft.sources
        if label in evidence
    ]


def approved_by_staff(state: AgentState) -> bool:
    decision = state.get("human_decision") or {}
    return decision.get("action") in ("approve", "edit")


async def persist(
    state: AgentState, runtime: Runtime[AgentContext], config: RunnableConfig
) -> dict[str, Any]:
    ctx = context_of(runtime)
    run_id = uuid.UUID(config["configurable"]["thread_id"])
    ticket_in = state["ticket"]
    ticket_id = uuid.UUID(ticket_in["ticket_id"])
    draft = DraftResolution.model_validate(state["draft"])
    text = retrieval_text(ticket_in["title"], ticket_in["description"], draft)
    embedding = (await ctx.embedder.embed_documents([text]))[0]
    async with ctx.sessionmaker.begin() as session:
        resolutions = ResolutionRepository(session)
        existing = await resolutions.for_run(run_id)
        if existing is not None:
            return {"resolution_id": str(existing.id)}
        resolution = await resolutions.add_version(
            ticket_id,
            run_id=run_id,
            summary=draft.summary,
            diagnoses=draft.diagnoses,
            solutions=[s.model_dump() for s in draft.solutions],
            sources=cited_sources(state, draft),
            confidence=draft.confidence,
            model=state.get("drafted_by") or ctx.model_name,
        )
        ticket = await TicketRepository(session).get(ticket_id)
        if ticket is not None:
            ticket.category = ticket.category or Category(state.get("category", "other"))
            if state.get("priority"):
                ticket.priority = Priority(state["priority"])
            ticket.status = ticket_rules.after_resolution(ticket.status)
            if approved_by_staff(state):
                # Staff approved or wrote it: it becomes evidence for future tickets.
                await accept_resolution(session, ctx.embedder, ticket, resolution)
            elif ticket.accepted_resolution_id is None:
                # Kept for when staff accept it; an accepted resolution is never overwritten
                # by a later run (acceptance moves only by staff action).
                ticket.resolution_text, ticket.embedding = text, embedding
    log.info(
        "resolution_persisted",
        ticket_id=str(ticket_id),
        run_id=str(run_id),
        version=resolution.version,
        confidence=draft.confidence,
    )
    return {"resolution_id": str(resolution.id)}
