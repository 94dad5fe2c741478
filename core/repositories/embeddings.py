"""SQL for the embeddings already stored with the evidence (KB chunks, resolved tickets)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import select, union_all
from sqlalchemy.ext.asyncio import AsyncSession

from core.models import DocumentChunk, Ticket


class EmbeddingRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def stored(
        self, chunk_ids: Sequence[uuid.UUID], ticket_ids: Sequence[uuid.UUID]
    ) -> dict[uuid.UUID, list[float]]:
        """The stored embeddings of these chunks and resolved tickets, by id, in one query (ids
        of both kinds are uuid4: they cannot collide). An id without one is left out."""
        chunks = select(DocumentChunk.id, DocumentChunk.embedding).where(
            DocumentChunk.id.in_(chunk_ids), DocumentChunk.embedding.is_not(None)
        )
        tickets = select(Ticket.id, Ticket.embedding).where(
            Ticket.id.in_(ticket_ids), Ticket.embedding.is_not(None)
        )
        rows = await self.session.execute(union_all(chunks, tickets))
        return {row[0]: [float(x) for x in row[1]] for row in rows}
