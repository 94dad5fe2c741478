"""Knowledge base: uploads ingested now (small) or queued for a worker (large, answered 202),
the worker's ingest of a queued upload (once, however often its job runs), listing, deleting,
and the agent's own search for staff."""

from __future__ import annotations

import time
import uuid
from typing import TYPE_CHECKING

import structlog

from core.errors import InferraError, NotFound
from core.models import Document, DocumentChunk, User
from core.pagination import Page, PageRequest
from core.repositories.documents import DocumentRepository, DocumentRow
from core.settings import RetrievalMode
from ingestion.loaders import detect_kind
from ingestion.pipeline import (
    IngestResult,
    IngestStatus,
    Stopwatch,
    ingest_bytes,
    parse_chunk_embed,
    precheck,
)
from services import jobs

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from core.retrieval import DocChunkHit
    from services.resources import Runtime

log = structlog.get_logger(__name__)


async def ingest_file(
    *, session: AsyncSession, runtime: Runtime, user: User, filename: str, data: bytes
) -> IngestResult:
    """One file: parsed now, or (over the background threshold) stored and queued."""
    if len(data) > runtime.settings.ingest_background_bytes:
        return await _enqueue(session, runtime, user, filename, data)
    return await ingest_bytes(
        session=session,
        embedder=runtime.embedder,
        settings=runtime.settings,
        filename=filename,
        data=data,
        uploaded_by=user.id,
    )


async def _enqueue(
    session: AsyncSession, runtime: Runtime, user: User, filename: str, data: bytes
) -> IngestResult:
    """Checks that need no parsing happen now (size, type by content, duplicate)."""
    started = time.perf_counter()
    sha256, duplicate = await precheck(session, runtime.settings, filename, data, started)
    if duplicate is not None:
        return duplicate
    kind = detect_kind(filename, data)  # 415 at once, not later in the background
    document = Document(
        filename=filename,
        mime=kind.value,
        sha256=sha256,
        title=filename,
        status="queued",
        source=data,
        uploaded_by=user.id,
    )
    async with session.begin_nested():
        session.add(document)
        await session.flush()
        await jobs.defer_ingest(session, runtime.jobs, document)
    log.info("document_queued", filename=filename, document_id=str(document.id), bytes=len(data))
    return IngestResult(
        filename, IngestStatus.queued, document.id, None, 0, time.perf_counter() - started
    )


async def ingest_queued(runtime: Runtime, document_id: uuid.UUID) -> None:
    """The job of a queued upload. Parsing happens outside any transaction; the store happens
    in one, on the locked row, only while it is still queued: a crash rolls it back whole and a
    second execution of the job finds nothing to do. The newest upload of a filename wins."""
    async with runtime.sessionmaker() as session:
        document = await DocumentRepository(session).lock_queued(document_id)
        filename, data = (document.filename, document.source or b"") if document else ("", b"")
    if document is None:
        log.info("document_already_ingested", document_id=str(document_id))
        return
    try:
        parsed, rows = await parse_chunk_embed(
            Stopwatch(), runtime.embedder, runtime.settings, filename, data
        )
    except InferraError as exc:
        await _fail(runtime, document_id, exc.message)
        return
    async with runtime.sessionmaker.begin() as session:
        repo = DocumentRepository(session)
        await repo.lock_filename(filename)
        document = await repo.lock_queued(document_id)
        if document is None:
            return
        if await repo.newer_with_filename(document):
            await repo.delete(document.id)  # superseded while it waited
            log.info("document_superseded", document_id=str(document_id), filename=filename)
            return
        await repo.replace_by_filename(document, rows)
        document.status, document.pages, document.title = "ready", parsed.pages, parsed.title
        document.source, document.error = None, None
    log.info("document_ingested", document_id=str(document_id), chunks=len(rows), background=True)


async def fail_queued(runtime: Runtime, document_id: uuid.UUID, message: str) -> None:
    """A queued upload whose job gave up: the document says why."""
    await _fail(runtime, document_id, message)


async def _fail(runtime: Runtime, document_id: uuid.UUID, message: str) -> None:
    async with runtime.sessionmaker.begin() as session:
        document = await DocumentRepository(session).lock_queued(document_id)
        if document is not None:
            document.status, document.error, document.source = "failed", message[:2000], None
    log.warning("document_failed", document_id=str(document_id), error=message)


async def list_documents(*, session: AsyncSession, page: PageRequest) -> Page[DocumentRow]:
    return await DocumentRepository(session).list(page)


async def document_with_chunks(
    *, session: AsyncSession, document_id: uuid.UUID
) -> tuple[Document, list[DocumentChunk]]:
    repo = DocumentRepository(session)
    document = await repo.get(document_id)
    if document is None:
        raise NotFound("Document not found")
    return document, await repo.chunks_of(document_id)


async def document_of_chunk(*, session: AsyncSession, chunk_id: uuid.UUID) -> Document:
    """The document a cited chunk belongs to (staff follow a resolution's source to it)."""
    repo = DocumentRepository(session)
    document_id = await repo.document_id_of_chunk(chunk_id)
    document = await repo.get(document_id) if document_id is not None else None
    if document is None:
        raise NotFound("That knowledge-base section no longer exists")
    return document


async def delete_document(*, session: AsyncSession, document_id: uuid.UUID, actor: User) -> None:
    if not await DocumentRepository(session).delete(document_id):
        raise NotFound("Document not found")
    log.info("document_deleted", document_id=str(document_id), actor_id=str(actor.id))


async def search(
    *, session: AsyncSession, runtime: Runtime, query: str, mode: RetrievalMode | None = None
) -> tuple[RetrievalMode, list[DocChunkHit]]:
    """The agent's retrieve_docs search (same retriever, same settings), with its scores."""
    mode = mode or runtime.settings.retrieval_mode
    return mode, await runtime.agent.retriever.doc_chunks(session, query, mode=mode)
