"""SQL for knowledge-base documents and their chunks."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.models import Document, DocumentChunk


@dataclass(frozen=True)
class ChunkIn:
    text: str
    heading_path: str | None
    page: int | None
    embedding: list[float]


class DocumentRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def by_sha256(self, sha256: str) -> Document | None:
        return await self.session.scalar(select(Document).where(Document.sha256 == sha256))

    async def add_with_chunks(
        self, document: Document, chunks: Sequence[ChunkIn]
    ) -> list[uuid.UUID]:
        self.session.add(document)
        await self.session.flush()
        rows = [
            DocumentChunk(
                document_id=document.id,
                ordinal=i,
                text=c.text,
                heading_path=c.heading_path,
                page=c.page,
                embedding=c.embedding,
            )
            for i, c in enumerate(chunks)
        ]
        self.session.add_all(rows)
        await self.session.flush()
        return [r.id for r in rows]
