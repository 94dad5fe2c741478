"""Real rows for tests, embedded with the real local model."""

from __future__ import annotations

import hashlib
import uuid

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.history import PastTicket, import_resolved_tickets
from core.models import Category, Document
from core.providers.embeddings import Embedder
from core.repositories.documents import ChunkIn, DocumentRepository


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
    async with sessionmaker.begin() as session:
        past = PastTicket(title, description, resolution, steps, category)
        [ticket] = await import_resolved_tickets(session, embedder, [past], owner_id=owner_id)
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
        return await DocumentRepository(session).add_with_chunks(
            Document(filename=filename, mime="text/markdown", sha256=digest, title=filename),
            [
                ChunkIn(text=t, heading_path=h, page=None, embedding=v)
                for (h, t), v in zip(sections, vectors, strict=True)
            ],
        )


async def vpn_evidence(
    sessionmaker: async_sessionmaker[AsyncSession], embedder: Embedder, *, owner_id: uuid.UUID
) -> dict[str, uuid.UUID]:
    """A resolved VPN ticket and a VPN runbook section: close enough to a "VPN drops" ticket
    that the offline resolver persists its answer without a handoff."""
    ticket_id = await resolved_ticket(
        sessionmaker,
        embedder,
        owner_id=owner_id,
        title="GlobalProtect VPN drops every few minutes",
        description="VPN disconnects constantly when working from home.",
        resolution="Updated GlobalProtect to 6.2 which fixed the keep-alive bug.",
        steps=["Open Company Portal", "Install GlobalProtect 6.2", "Reconnect"],
        category=Category.network_vpn,
    )
    [chunk_id] = await kb_document(
        sessionmaker,
        embedder,
        filename="vpn.md",
        sections=[("VPN > Disconnects", "1. Update GlobalProtect to 6.2\n2. Reconnect")],
    )
    return {"ticket": ticket_id, "chunk": chunk_id}
