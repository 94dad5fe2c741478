"""Large uploads in the background: the request stores the bytes as a `queued` document and
answers 202; the run worker (see api/main.py) claims it, ingests it, and marks it ready or failed.
Like agent runs, the queue is the table itself: enqueued in the upload's transaction, claimed
with SKIP LOCKED, taken over by another worker when a lease expires."""

from __future__ import annotations

import time
import uuid

import structlog
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.errors import InferraError
from core.models import Document
from core.providers.embeddings import Embedder
from core.repositories.documents import DocumentRepository
from core.repositories.runs import NOTIFY_CHANNEL
from core.settings import Settings
from ingestion.loaders import detect_kind
from ingestion.pipeline import (
    IngestResult,
    IngestStatus,
    Stopwatch,
    parse_chunk_embed,
    precheck,
)

log = structlog.get_logger(__name__)
LEASE_SECONDS = 600
MAX_ATTEMPTS = 3


async def enqueue_bytes(
    *,
    session: AsyncSession,
    settings: Settings,
    filename: str,
    data: bytes,
    uploaded_by: uuid.UUID | None = None,
) -> IngestResult:
    """Checks that need no parsing happen now (size, type by content, duplicate)."""
    started = time.perf_counter()
    sha256, duplicate = await precheck(session, settings, filename, data, started)
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
        uploaded_by=uploaded_by,
    )
    async with session.begin_nested():
        session.add(document)
        await session.flush()
    await session.execute(text(f"NOTIFY {NOTIFY_CHANNEL}"))  # wakes an idle worker at commit
    log.info("document_queued", filename=filename, document_id=str(document.id), bytes=len(data))
    return IngestResult(
        filename, IngestStatus.queued, document.id, None, 0, time.perf_counter() - started
    )


async def process_next_document(
    sessionmaker: async_sessionmaker[AsyncSession], embedder: Embedder, settings: Settings
) -> bool:
    """Ingest one queued document; False when there is none."""
    async with sessionmaker.begin() as session:
        document_id = await DocumentRepository(session).claim_queued(LEASE_SECONDS)
    if document_id is None:
        return False
    async with sessionmaker.begin() as session:
        repo = DocumentRepository(session)
        document = await repo.get_with_source(document_id)
        if document is None:  # deleted meanwhile
            return True
        try:
            await _ingest_queued(session, repo, document, embedder, settings)
        except InferraError as exc:
            _mark_failed(document, exc.message)
        except Exception as exc:  # keep the worker alive; the document says what happened
            log.exception("document_ingest_crashed", document_id=str(document_id))
            _mark_failed(document, f"{type(exc).__name__}: {exc}"[:2000])
    return True


async def _ingest_queued(
    session: AsyncSession,
    repo: DocumentRepository,
    document: Document,
    embedder: Embedder,
    settings: Settings,
) -> None:
    if document.attempts > MAX_ATTEMPTS:
        raise InferraError(f"gave up after {MAX_ATTEMPTS} attempts (worker crashes?)")
    parsed, rows = await parse_chunk_embed(
        Stopwatch(), embedder, settings, document.filename, document.source or b""
    )
    async with session.begin_nested():
        await repo.replace_by_filename(document, rows)
        document.status, document.pages, document.title = "ready", parsed.pages, parsed.title
        document.source, document.lease_until, document.error = None, None, None
    log.info(
        "document_ingested",
        filename=document.filename,
        document_id=str(document.id),
        chunks=len(rows),
        background=True,
    )


def _mark_failed(document: Document, message: str) -> None:
    document.status, document.error = "failed", message
    document.source, document.lease_until = None, None
    log.warning("document_failed", document_id=str(document.id), error=message)
