"""SQL for knowledge-base documents and their chunks."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import delete, func, insert, select, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import undefer

from core.models import Document, DocumentChunk
from core.pagination import Page, PageRequest


@dataclass(frozen=True)
class ChunkIn:
    text: str
    heading_path: str | None
    page: int | None
    embedding: list[float]


@dataclass(frozen=True)
class DocumentRow:
    document: Document
    chunk_count: int


class DocumentRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def by_sha256(self, sha256: str) -> Document | None:
        return await self.session.scalar(select(Document).where(Document.sha256 == sha256))

    async def get(self, document_id: uuid.UUID) -> Document | None:
        return await self.session.get(Document, document_id)

    async def add_with_chunks(
        self, document: Document, chunks: Sequence[ChunkIn]
    ) -> list[uuid.UUID]:
        self.session.add(document)
        await self.session.flush()
        rows = [
            {
                "id": uuid.uuid4(),
                "document_id": document.id,
                "ordinal": i,
                "text": c.text,
                "heading_path": c.heading_path,
                "page": c.page,
                "embedding": c.embedding,
            }
            for i, c in enumerate(chunks)
        ]
        if rows:  # one multi-row INSERT per ~1000 rows (insertmanyvalues), no ORM objects
            await self.session.execute(insert(DocumentChunk), rows)
        return [r["id"] for r in rows]

    async def replace_by_filename(
        self, document: Document, chunks: Sequence[ChunkIn]
    ) -> list[uuid.UUID]:
        """Store `document` in place of any document with its filename; returns the ids replaced.
        Callers run it in one transaction (or savepoint): the old version goes only with it."""
        await self.lock_filename(document.filename)
        document.id = document.id or uuid.uuid4()  # a queued upload keeps its id, the rest go
        replaced = await self.session.scalars(
            delete(Document)
            .where(Document.filename == document.filename, Document.id != document.id)
            .returning(Document.id)
        )
        replaced_ids = list(replaced)  # their chunks go with them (ON DELETE CASCADE)
        await self.add_with_chunks(document, chunks)
        return replaced_ids

    async def lock_filename(self, filename: str) -> None:
        """Serialises uploads of one filename until commit, so two can never both survive."""
        await self.session.execute(
            text("SELECT pg_advisory_xact_lock(hashtextextended(:name, 0))"),
            {"name": f"documents.filename:{filename}"},
        )

    async def lock_queued(self, document_id: uuid.UUID) -> Document | None:
        """The queued upload with its bytes, row-locked until commit; None once it was ingested
        (or failed, or deleted): a second execution of the job stores nothing."""
        return await self.session.scalar(
            select(Document)
            .where(Document.id == document_id, Document.status == "queued")
            .options(undefer(Document.source))
            .with_for_update()
        )

    async def newer_with_filename(self, document: Document) -> bool:
        """Whether a later upload of the same filename exists (the newest upload wins)."""
        newer = await self.session.scalar(
            select(Document.id).where(
                Document.filename == document.filename,
                Document.id != document.id,
                Document.created_at > document.created_at,
            )
        )
        return newer is not None

    async def chunk_count(self, document_id: uuid.UUID) -> int:
        count = await self.session.scalar(
            select(func.count()).where(DocumentChunk.document_id == document_id)
        )
        return count or 0

    async def list(self, page: PageRequest) -> Page[DocumentRow]:
        """Newest first, each with its number of chunks."""
        total = await self.session.scalar(select(func.count()).select_from(Document))
        # Correlated: counted for the page's documents only, through the document_id index.
        chunk_count = (
            select(func.count())
            .where(DocumentChunk.document_id == Document.id)
            .correlate(Document)
            .scalar_subquery()
        )
        rows = await self.session.execute(
            select(Document, chunk_count)
            .order_by(Document.created_at.desc(), Document.id.desc())
            .offset(page.offset)
            .limit(page.page_size)
        )
        items = [DocumentRow(document, count) for document, count in rows]
        return Page(items, total or 0, page.page, page.page_size)

    async def chunks_of(self, document_id: uuid.UUID) -> list[DocumentChunk]:
        rows = await self.session.scalars(
            select(DocumentChunk)
            .where(DocumentChunk.document_id == document_id)
            .order_by(DocumentChunk.ordinal)
        )
        return list(rows)

    async def document_id_of_chunk(self, chunk_id: uuid.UUID) -> uuid.UUID | None:
        return await self.session.scalar(
            select(DocumentChunk.document_id).where(DocumentChunk.id == chunk_id)
        )

    async def delete(self, document_id: uuid.UUID) -> bool:
        """True if it existed; its chunks go with it (ON DELETE CASCADE)."""
        deleted = await self.session.scalar(
            delete(Document).where(Document.id == document_id).returning(Document.id)
        )
        return deleted is not None
