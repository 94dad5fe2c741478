"""Real rows for tests: resolved tickets with accepted resolutions, and KB documents with chunks,
embedded with the real local model."""

from __future__ import annotations

import hashlib
import uuid

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from agent.nodes.persist import retrieval_text
from agent.schemas import DraftResolution, Solution
from core.models import (
    Category,
    Document,
    DocumentChunk,
    Resolution,
    Ticket,
    TicketStatus,
)
from core.providers.embeddings import Embedder


async def resolved_ticket(
    sessionmaker: async_sessionmaker[AsyncSession],
    embedder: Embedder,
    *,
    owner_id: uuid.UUID,
    title: str,
    description: str,
    resolution: str,
    steps: list[str],
    category: Category = Category.other,
) -> uuid.UUID:
    draft = DraftResolution(
        summary=resolution,
        diagnoses=[resolution],
        confidence=0.9,
        solutions=[Solution(title="Fix", steps=steps)],
    )
    text = retrieval_text(title, description, draft)
    [embedding] = await embedder.embed_documents([text])
    async with sessionmaker.begin() as session:
        ticket = Ticket(
            owner_id=owner_id,
            title=title,
            description=description,
            category=category,
            status=TicketStatus.closed,
            resolution_text=text,
            embedding=embedding,
        )
        session.add(ticket)
        await session.flush()
        accepted = Resolution(
            ticket_id=ticket.id,
            version=1,
            summary=resolution,
            diagnoses=draft.diagnoses,
            solutions=[s.model_dump() for s in draft.solutions],
            sources=[],
            confidence=0.9,
            model="human",
        )
        session.add(accepted)
        await session.flush()
        ticket.accepted_resolution_id = accepted.id
        return ticket.id


async def kb_document(
    sessionmaker: async_sessionmaker[AsyncSession],
    embedder: Embedder,
    *,
    filename: str,
    sections: list[tuple[str, str]],
) -> list[uuid.UUID]:
    """A document whose chunks are (heading path, text) sections; returns the chunk ids."""
    vectors = await embedder.embed_documents([f"{h}\n{t}" for h, t in sections])
    digest = hashlib.sha256(repr(sections).encode()).hexdigest()
    async with sessionmaker.begin() as session:
        document = Document(
            filename=filename, mime="text/markdown", sha256=digest, title=filename, pages=None
        )
        session.add(document)
        await session.flush()
        chunks = [
            DocumentChunk(
                document_id=document.id,
                ordinal=i,
                heading_path=heading,
                text=text,
                embedding=vector,
            )
            for i, ((heading, text), vector) in enumerate(zip(sections, vectors, strict=True))
        ]
        session.add_all(chunks)
        await session.flush()
        return [c.id for c in chunks]
