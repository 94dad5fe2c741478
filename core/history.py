"""Resolved tickets as retrieval evidence: the text that is embedded, and importing past
tickets (demo data, eval datasets) with an accepted resolution."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from core.models import Category, Resolution, Ticket, TicketStatus
from core.providers.embeddings import Embedder


def ticket_retrieval_text(title: str, description: str, summary: str, steps: Sequence[str]) -> str:
    """Problem + accepted resolution: what a similar future ticket is matched against."""
    return f"{title}\n{description}\nResolution: {summary} {' '.join(steps)}"


@dataclass(frozen=True)
class PastTicket:
    """A ticket resolved before Inferra (demo data, an eval dataset's history)."""

    title: str
    description: str
    resolution: str
    steps: Sequence[str] = ()
    category: Category = Category.other

    def retrieval_text(self) -> str:
        return ticket_retrieval_text(self.title, self.description, self.resolution, self.steps)


async def import_resolved_tickets(
    session: AsyncSession,
    embedder: Embedder,
    past: Sequence[PastTicket],
    *,
    owner_id: uuid.UUID,
    model: str = "imported",
) -> list[Ticket]:
    """Each as a closed ticket with its accepted resolution. The texts are embedded in one call:
    full batches on every model thread, where one call per ticket embeds batches of one."""
    texts = [item.retrieval_text() for item in past]
    embeddings = await embedder.embed_documents(texts) if texts else []
    return [
        await _store(session, item, text, embedding, owner_id=owner_id, model=model)
        for item, text, embedding in zip(past, texts, embeddings, strict=True)
    ]


async def _store(
    session: AsyncSession,
    past: PastTicket,
    text: str,
    embedding: list[float],
    *,
    owner_id: uuid.UUID,
    model: str,
) -> Ticket:
    ticket = Ticket(
        owner_id=owner_id,
        title=past.title,
        description=past.description,
        category=past.category,
        status=TicketStatus.closed,
        resolution_text=text,
        embedding=embedding,
    )
    session.add(ticket)
    await session.flush()
    accepted = Resolution(
        ticket_id=ticket.id,
        version=1,
        summary=past.resolution,
        diagnoses=[past.resolution],
        solutions=[{"title": "Resolution", "steps": list(past.steps) or [past.resolution]}],
        sources=[],
        confidence=1.0,
        model=model,
        accepted_at=datetime.now(UTC),
    )
    session.add(accepted)
    await session.flush()
    ticket.accepted_resolution_id = accepted.id
    await session.flush()
    return ticket


async def accept_resolution(
    session: AsyncSession, embedder: Embedder, ticket: Ticket, resolution: Resolution
) -> None:
    """Make `resolution` the ticket's accepted one: from now on retrieval finds this ticket,
    matched on its problem and this resolution."""
    steps = [str(step) for s in resolution.solutions for step in s.get("steps", [])]
    text = ticket_retrieval_text(ticket.title, ticket.description, resolution.summary, steps)
    if text != ticket.resolution_text or ticket.embedding is None:
        [ticket.embedding] = await embedder.embed_documents([text])
        ticket.resolution_text = text
    resolution.accepted_at = resolution.accepted_at or datetime.now(UTC)
    ticket.accepted_resolution_id = resolution.id
    await session.flush()
