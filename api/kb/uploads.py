"""Reading uploads off the HTTP request: the multipart form within the size limits, each file
counted while read, client paths stripped; each file then goes to the knowledge-base service in
its own savepoint (a bad file fails alone)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePosixPath

import structlog
from fastapi import Request
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import FormData, UploadFile
from starlette.types import Message

from core.errors import InferraError
from core.models import User
from core.settings import Settings
from ingestion.errors import DocumentTooLarge
from ingestion.pipeline import IngestResult, check_size
from services import knowledge_base
from services.resources import Runtime

log = structlog.get_logger(__name__)

UPLOAD_FIELD = "files"
MAX_FILES_PER_REQUEST = 50
# Multipart boundaries and part headers around the files' bytes: the request limit is about
# the documents, so a single file of exactly the per-request size still fits.
FORM_FRAMING_BYTES = 64 * 1024
READ_PIECE_BYTES = 1024 * 1024


@dataclass(frozen=True)
class FileOutcome:
    filename: str
    result: IngestResult | None = None
    error: InferraError | None = None


async def ingest_uploads(
    *, request: Request, session: AsyncSession, runtime: Runtime, user: User
) -> list[FileOutcome]:
    """Each file of the multipart field `files`, in order, each in its own savepoint."""
    form = await _receive_form(request, runtime.settings)
    try:
        # Starlette's UploadFile: the parser makes those (FastAPI's is a subclass of it).
        uploads = [f for f in form.getlist(UPLOAD_FIELD) if isinstance(f, UploadFile)]
        if not uploads:
            raise InferraError(
                f"Send the documents as multipart/form-data in the field '{UPLOAD_FIELD}'",
                code="validation_error",
                status_code=422,
            )
        return [await _ingest_upload(u, session, runtime, user) for u in uploads]
    finally:
        await form.close()  # the spooled temporary files


async def _ingest_upload(
    upload: UploadFile, session: AsyncSession, runtime: Runtime, user: User
) -> FileOutcome:
    filename = _safe_filename(upload.filename)
    try:
        data = await _read_upload(upload, filename, runtime.settings)
        result = await knowledge_base.ingest_file(
            session=session, runtime=runtime, user=user, filename=filename, data=data
        )
    except InferraError as exc:
        log.warning("document_rejected", filename=filename, code=exc.code, error=exc.message)
        return FileOutcome(filename, error=exc)
    return FileOutcome(filename, result=result)


async def _receive_form(request: Request, settings: Settings) -> FormData:
    """The multipart form, refused with 413 before it is read when Content-Length is over the
    per-request limit, or as soon as a body without one grows past it."""
    limit = settings.ingest_max_request_bytes + FORM_FRAMING_BYTES
    too_large = DocumentTooLarge(
        "This upload is larger than the per-request limit of "
        f"{settings.ingest_max_request_bytes / (1024 * 1024):.1f} MB"
    )
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise too_large
    received = 0

    async def receive_within_limit() -> Message:
        nonlocal received
        message = await request.receive()
        received += len(message.get("body", b""))
        if received > limit:
            raise too_large
        return message

    limited = Request(request.scope, receive_within_limit)
    # Starlette spools each file to a temporary file past 1 MB: memory stays bounded.
    return await limited.form(max_files=MAX_FILES_PER_REQUEST)


async def _read_upload(upload: UploadFile, filename: str, settings: Settings) -> bytes:
    """The file's bytes, refused from its spooled size before reading it, and counted while
    reading (the size a client declares in a part is not trusted)."""
    check_size(filename, upload.size or 0, settings)
    data = bytearray()
    while piece := await upload.read(READ_PIECE_BYTES):
        data += piece
        check_size(filename, len(data), settings)
    return bytes(data)


def _safe_filename(name: str | None) -> str:
    """The base name only: a client's path never reaches our names (or our disk)."""
    base = PurePosixPath((name or "").replace("\\", "/")).name.strip()
    return base or "unnamed"


def all_failed(outcomes: list[FileOutcome], details: dict) -> InferraError:
    """The first file's error, for a request none of whose files was accepted."""
    first = next(o.error for o in outcomes if o.error is not None)
    return InferraError(
        first.message, code=first.code, status_code=first.status_code, details=details
    )
