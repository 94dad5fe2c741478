"""The ingestion pipeline: bytes -> loaders -> chunker -> embeddings -> store, each document in its
own savepoint: a failure leaves nothing half-written and keeps the previous version. Several
files (`ingest_sequence`: the CLI, the benchmark) go through as a pipeline: the next one is
parsed and chunked and the previous one stored while this one is embedded. Same content again
(sha256) is a no-op; new content under a known filename replaces it. Callers own the transaction
(the request session, or the CLI's run_in_session) and commit it.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import TypeVar

import structlog
from rich.console import Console
from rich.table import Table
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import InferraError
from core.models import Document
from core.progress import progress_bar
from core.providers import ProviderUnavailable
from core.providers.embeddings import Embedder
from core.repositories.documents import ChunkIn, DocumentRepository
from core.settings import Settings
from ingestion import sandbox
from ingestion.chunker import Chunk, chunk_sections
from ingestion.errors import DocumentTooLarge, EmbeddingsUnavailable, EmptyDocument
from ingestion.loaders import ParsedDocument, is_accepted_name

log = structlog.get_logger(__name__)

MAX_FILENAME_CHARS = 255  # documents.filename
T = TypeVar("T")


class IngestStatus(StrEnum):
    ingested = "ingested"
    duplicate = "duplicate"
    replaced = "replaced"
    queued = "queued"  # large upload: the worker ingests it (GET /kb/documents shows progress)


@dataclass(frozen=True)
class IngestResult:
    filename: str
    status: IngestStatus
    document_id: uuid.UUID
    pages: int | None
    chunks: int
    seconds: float
    replaced_ids: tuple[uuid.UUID, ...] = ()
    stage_seconds: dict[str, float] = field(default_factory=dict)  # parse, chunk, embed, store


async def ingest_bytes(
    *,
    session: AsyncSession,
    embedder: Embedder,
    settings: Settings,
    filename: str,
    data: bytes,
    uploaded_by: uuid.UUID | None = None,
) -> IngestResult:
    started = time.perf_counter()
    sha256, duplicate = await precheck(session, settings, filename, data, started)
    if duplicate is not None:
        return duplicate
    stages = Stopwatch()
    parsed, chunks = await parse_and_chunk(stages, settings, filename, data)
    prepared = Prepared(filename, data, parsed, chunks, stages, started)
    rows = await prepared.embed(embedder, settings)
    return await _store_rows(session, prepared, rows, sha256=sha256, uploaded_by=uploaded_by)


@dataclass(frozen=True)
class Prepared:
    """A document parsed and chunked, waiting for its embeddings."""

    filename: str
    data: bytes
    parsed: ParsedDocument
    chunks: list[Chunk]
    stages: Stopwatch
    started: float

    async def embed(self, embedder: Embedder, settings: Settings) -> list[ChunkIn]:
        return await _embed_rows(self.stages, embedder, settings, self.filename, self.chunks)


async def _store_rows(
    session: AsyncSession,
    prepared: Prepared,
    rows: list[ChunkIn],
    *,
    sha256: str,
    uploaded_by: uuid.UUID | None,
) -> IngestResult:
    filename, parsed, stages = prepared.filename, prepared.parsed, prepared.stages
    document = Document(
        filename=filename,
        mime=parsed.mime,
        sha256=sha256,
        title=parsed.title,
        status="ready",
        pages=parsed.pages,
        uploaded_by=uploaded_by,
    )
    try:
        replaced = await stages.run("store", _store(session, document, rows))
    except IntegrityError:
        # A concurrent upload stored the same content since the check above.
        repo = DocumentRepository(session)
        if (existing := await repo.by_sha256(sha256)) is None:
            raise
        return await duplicate_result(repo, existing, filename, prepared.started)
    result = IngestResult(
        filename=filename,
        status=IngestStatus.replaced if replaced else IngestStatus.ingested,
        document_id=document.id,
        pages=parsed.pages,
        chunks=len(rows),
        seconds=time.perf_counter() - prepared.started,
        replaced_ids=tuple(replaced),
        stage_seconds=stages.seconds,
    )
    _log_ingested(result)
    return result


async def parse_and_chunk(
    stages: Stopwatch, settings: Settings, filename: str, data: bytes
) -> tuple[ParsedDocument, list[Chunk]]:
    # Parsing is CPU-bound and the input is untrusted: in a sandboxed process, within a time
    # and memory budget (ingestion/sandbox.py). Tokenizing: off the event loop, on a thread.
    parsed = await stages.run("parse", sandbox.parse(filename, data, settings))
    chunks = await stages.run("chunk", asyncio.to_thread(_chunk, parsed, settings))
    if not chunks:
        raise EmptyDocument(
            f"{filename} has no text to index (a scanned PDF needs OCR, which is not supported)"
        )
    return parsed, chunks


async def parse_chunk_embed(
    stages: Stopwatch, embedder: Embedder, settings: Settings, filename: str, data: bytes
) -> tuple[ParsedDocument, list[ChunkIn]]:
    parsed, chunks = await parse_and_chunk(stages, settings, filename, data)
    return parsed, await _embed_rows(stages, embedder, settings, filename, chunks)


async def _embed_rows(
    stages: Stopwatch, embedder: Embedder, settings: Settings, filename: str, chunks: list[Chunk]
) -> list[ChunkIn]:
    vectors = await stages.run("embed", embed_chunks(embedder, chunks, filename, settings))
    return [
        ChunkIn(c.text, c.heading_path, c.page, v) for c, v in zip(chunks, vectors, strict=True)
    ]


async def precheck(
    session: AsyncSession, settings: Settings, filename: str, data: bytes, started: float
) -> tuple[str, IngestResult | None]:
    """What every upload passes before any parsing, queued or not: size, name, duplicate.
    Returns the content's sha256 and, for a duplicate, its result."""
    check_size(filename, len(data), settings)
    _check_filename(filename)
    sha256 = hashlib.sha256(data).hexdigest()
    repo = DocumentRepository(session)
    existing = await repo.by_sha256(sha256)
    if existing is not None and existing.status == "failed":
        await repo.delete(existing.id)  # its failure may have been ours: try the bytes again
        existing = None
    if existing is not None:
        return sha256, await duplicate_result(repo, existing, filename, started)
    return sha256, None


def check_size(filename: str, size: int, settings: Settings) -> None:
    if size > settings.ingest_max_file_bytes:
        raise DocumentTooLarge(
            f"{filename} is larger than the limit of {_megabytes(settings.ingest_max_file_bytes)}"
        )


def _check_filename(filename: str) -> None:
    if len(filename) > MAX_FILENAME_CHARS:
        raise InferraError(
            f"{filename[:60]}...: file names are limited to {MAX_FILENAME_CHARS} characters",
            code="filename_too_long",
            status_code=422,
        )


def _log_ingested(result: IngestResult) -> None:
    log.info(
        "document_ingested",
        filename=result.filename,
        status=result.status.value,
        document_id=str(result.document_id),
        pages=result.pages,
        chunks=result.chunks,
        seconds=round(result.seconds, 3),
        **{f"{stage}_s": round(s, 3) for stage, s in result.stage_seconds.items()},
    )


def _megabytes(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MB"


def _chunk(parsed: ParsedDocument, settings: Settings) -> list[Chunk]:
    return chunk_sections(
        parsed.sections,
        chunk_tokens=settings.ingest_chunk_tokens,
        overlap_tokens=settings.ingest_chunk_overlap_tokens,
    )


EMBED_CALLS_IN_FLIGHT = 2


async def embed_chunks(
    embedder: Embedder, chunks: Sequence[Chunk], filename: str, settings: Settings
) -> list[list[float]]:
    """In calls of `ingest_embed_batch_size` texts: bounded memory locally, bounded request size
    for a hosted provider. Two calls in flight: the local model's threads take the next call's
    batches as each finishes, where one call at a time left a thread idle at its end (~4 % of
    ingestion, benchmarks/README.md); a hosted provider sees at most two requests at once."""
    texts = [c.embedding_text for c in chunks]
    size = settings.ingest_embed_batch_size
    window = asyncio.Semaphore(EMBED_CALLS_IN_FLIGHT)

    async def call(start: int) -> list[list[float]]:
        async with window:
            return await embedder.embed_documents(texts[start : start + size])

    calls = [asyncio.ensure_future(call(start)) for start in range(0, len(texts), size)]
    try:
        embedded = await asyncio.gather(*calls)
    except ProviderUnavailable as exc:
        raise EmbeddingsUnavailable(f"{filename}: {exc}; nothing was stored") from exc
    finally:
        for pending in calls:
            pending.cancel()  # after a failure, the calls not yet made are not made
    return [vector for vectors in embedded for vector in vectors]


async def _store(session: AsyncSession, document: Document, rows: list[ChunkIn]) -> list[uuid.UUID]:
    # One savepoint: the old version is deleted only if the new one is written entirely.
    async with session.begin_nested():
        return await DocumentRepository(session).replace_by_filename(document, rows)


async def duplicate_result(
    repo: DocumentRepository, existing: Document, filename: str, started: float
) -> IngestResult:
    log.info(
        "document_duplicate",
        filename=filename,
        document_id=str(existing.id),
        stored_as=existing.filename,
    )
    return IngestResult(
        filename=filename,
        status=IngestStatus.duplicate,
        document_id=existing.id,
        pages=existing.pages,
        chunks=await repo.chunk_count(existing.id),
        seconds=time.perf_counter() - started,
    )


class Stopwatch:
    """Seconds per stage, for the log line and the benchmark's breakdown."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    async def run(self, stage: str, work: Awaitable[T]) -> T:
        started = time.perf_counter()
        try:
            return await work
        finally:
            self.seconds[stage] = time.perf_counter() - started


# --- Files and folders (the CLI) ------------------------------------------------------------


@dataclass
class IngestSummary:
    files: int = 0
    ingested: int = 0
    replaced: int = 0
    duplicates: int = 0
    pages: int = 0
    chunks: int = 0
    failures: list[tuple[str, str]] = field(default_factory=list)  # (path, message)
    seconds: float = 0.0

    def add(self, result: IngestResult) -> None:
        if result.status is IngestStatus.duplicate:
            self.duplicates += 1
            return
        if result.status is IngestStatus.replaced:
            self.replaced += 1
        else:
            self.ingested += 1
        self.pages += result.pages or 0
        self.chunks += result.chunks

    def as_table(self) -> Table:
        table = Table(title="Knowledge-base ingestion", show_header=False)
        table.add_column("")
        table.add_column("", justify="right")
        for label, value in (
            ("files", self.files),
            ("ingested", self.ingested),
            ("replaced", self.replaced),
            ("pages", self.pages),
            ("chunks", self.chunks),
            ("skipped duplicates", self.duplicates),
            ("failures", len(self.failures)),
            ("seconds", f"{self.seconds:.1f}"),
        ):
            table.add_row(label, str(value))
        return table

    def failures_table(self) -> Table:
        table = Table(title="Failures")
        table.add_column("file")
        table.add_column("error")
        for path, message in self.failures:
            table.add_row(path, message)
        return table


def collect_files(paths: Iterable[Path]) -> Iterator[tuple[Path, str]]:
    """(path, document filename). A file keeps its name; a folder is walked recursively and its
    files are named by their path inside it, so two README.md of one tree do not collide."""
    for path in paths:
        if not path.is_dir():
            yield path, path.name
            continue
        for file in sorted(path.rglob("*")):
            inside = file.relative_to(path)
            hidden = any(part.startswith(".") for part in inside.parts)
            if file.is_file() and not hidden and is_accepted_name(file.name):
                yield file, inside.as_posix()


@dataclass(frozen=True)
class SourceFile:
    """A file to ingest: its document filename, how to read its bytes, where it comes from."""

    name: str
    read: Callable[[], Awaitable[bytes]]
    origin: str = ""  # for messages: the path on disk


Outcome = IngestResult | InferraError | OSError


async def ingest_sequence(
    files: Sequence[SourceFile],
    *,
    transaction: Callable[[], AbstractAsyncContextManager[AsyncSession]],
    embedder: Embedder,
    settings: Settings,
) -> AsyncIterator[tuple[SourceFile, Outcome]]:
    """Ingest `files` in order, each in its own `transaction()`, as a three-stage pipeline:
    while one file is embedded, the next is read, parsed (in the sandbox's process) and chunked,
    and the previous one is stored (Postgres computing its index entries), so the parser, the
    model and the database run at the same time. Yields each file's result or error, in order.

    A file's duplicate check (it needs a session) comes after its parse, and before the
    previous file's store starts: a shared session (the CLI's) is never used by two at once.
    A duplicate costs its parse, which overlaps the previous file's embedding anyway; the same
    content twice in a row is caught by the store (IntegrityError) and reported a duplicate."""
    ahead = _prepare_soon(files, 0, settings)
    embedded: _Open | None = None  # the previous file: embedded, its transaction still open
    current: _Open | IngestResult | InferraError | OSError | None = None
    storing: asyncio.Task[Outcome] | None = None
    try:
        for index, file in enumerate(files):
            assert ahead is not None  # the task of file `index`
            prepared = await _settled(ahead)
            ahead = _prepare_soon(files, index + 1, settings)
            current = await _open(file, prepared, transaction, settings)
            storing = asyncio.create_task(embedded.store()) if embedded else None
            embedding = None
            if isinstance(current, _Open):
                embedding = await _settled(current.embed(embedder, settings))
            if embedded is not None and storing is not None:
                stored, storing, done = await storing, None, embedded
                embedded = None
                yield done.file, stored
            if isinstance(current, _Open) and isinstance(embedding, InferraError | OSError):
                await current.close(embedding)
                current = embedding
            if isinstance(current, _Open):
                embedded, current = current, None
            else:
                yield file, current
        if embedded is not None:
            stored, done, embedded = await embedded.store(), embedded, None
            yield done.file, stored
    finally:
        if ahead is not None:
            ahead.cancel()  # a caller that stops early leaves no parse running
        if storing is not None:
            storing.cancel()
            with contextlib.suppress(BaseException):
                await storing
        for left in (embedded, current):  # rolled back: a caller stopped early, or a bug
            if isinstance(left, _Open):
                await left.close(asyncio.CancelledError())


async def _settled(work: Awaitable[T]) -> T | InferraError | OSError:
    """`work`'s value, or the error a file may end with (the others propagate)."""
    try:
        return await work
    except (InferraError, OSError) as exc:
        return exc


@dataclass
class _Open:
    """A file past its duplicate check, in its own transaction until it is stored."""

    file: SourceFile
    prepared: Prepared
    sha256: str
    session: AsyncSession
    transaction: contextlib.AsyncExitStack
    rows: list[ChunkIn] = field(default_factory=list)

    async def embed(self, embedder: Embedder, settings: Settings) -> None:
        self.rows = await self.prepared.embed(embedder, settings)

    async def store(self) -> Outcome:
        """Stores the rows and commits; an error rolls the file back and is returned."""
        try:
            result = await _store_rows(
                self.session, self.prepared, self.rows, sha256=self.sha256, uploaded_by=None
            )
        except (InferraError, OSError) as exc:
            await self.close(exc)
            return exc
        except BaseException as exc:
            await self.close(exc)
            raise
        await self.transaction.aclose()  # commits
        return result

    async def close(self, error: BaseException) -> None:
        """Leaves the transaction as an exception would: rolled back."""
        await self.transaction.__aexit__(type(error), error, error.__traceback__)


async def _open(
    file: SourceFile,
    prepared: Prepared | InferraError | OSError,
    transaction: Callable[[], AbstractAsyncContextManager[AsyncSession]],
    settings: Settings,
) -> _Open | Outcome:
    """The file's transaction, opened, and its duplicate check; a duplicate or an error is the
    file's outcome at once."""
    if not isinstance(prepared, Prepared):
        return prepared
    stack = contextlib.AsyncExitStack()
    session = await stack.enter_async_context(transaction())
    try:
        sha256, duplicate = await precheck(
            session, settings, prepared.filename, prepared.data, prepared.started
        )
    except BaseException as exc:
        await stack.__aexit__(type(exc), exc, exc.__traceback__)
        if isinstance(exc, InferraError | OSError):
            return exc
        raise
    if duplicate is not None:
        await stack.aclose()  # commits (the check may have deleted a failed earlier upload)
        return duplicate
    return _Open(file, prepared, sha256, session, stack)


def _prepare_soon(
    files: Sequence[SourceFile], index: int, settings: Settings
) -> asyncio.Task[Prepared] | None:
    if index >= len(files):
        return None
    return asyncio.create_task(_read_and_prepare(files[index], settings))


async def _read_and_prepare(file: SourceFile, settings: Settings) -> Prepared:
    started = time.perf_counter()
    data = await file.read()
    check_size(file.name, len(data), settings)
    _check_filename(file.name)
    stages = Stopwatch()
    parsed, chunks = await parse_and_chunk(stages, settings, file.name, data)
    return Prepared(file.name, data, parsed, chunks, stages, started)


async def ingest_paths(
    session: AsyncSession,
    paths: Sequence[Path],
    *,
    embedder: Embedder,
    settings: Settings,
    console: Console | None = None,
) -> IngestSummary:
    """Every file under `paths` (in one session, each document in its own savepoint); a failing
    file is recorded and the others go on. With a console, a progress bar shows progress."""
    started = time.perf_counter()
    found = await asyncio.to_thread(lambda: list(collect_files(paths)))
    files = [SourceFile(name, _reader(path, name, settings), str(path)) for path, name in found]
    summary = IngestSummary(files=len(files))
    with progress_bar(console) as progress:
        task = progress.add_task("ingesting", total=len(files))
        pipeline = ingest_sequence(
            files,
            transaction=lambda: contextlib.nullcontext(session),
            embedder=embedder,
            settings=settings,
        )
        async for file, outcome in pipeline:
            if isinstance(outcome, IngestResult):
                summary.add(outcome)
            else:
                message = getattr(outcome, "message", None) or str(outcome)
                summary.failures.append((file.origin, message))
                log.warning("document_failed", path=file.origin, error=message)
            progress.update(task, description=file.name)
            progress.advance(task)
        progress.update(task, description="done")
    summary.seconds = time.perf_counter() - started
    return summary


def _reader(path: Path, name: str, settings: Settings) -> Callable[[], Awaitable[bytes]]:
    async def read() -> bytes:
        size = (await asyncio.to_thread(path.stat)).st_size
        check_size(name, size, settings)  # before reading it into memory
        return await asyncio.to_thread(path.read_bytes)

    return read
