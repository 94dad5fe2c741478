from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict

from api.kb.uploads import FileOutcome
from core.models import Document
from core.retrieval import DocChunkHit
from core.settings import RetrievalMode


class IngestError(BaseModel):
    code: str
    message: str


class IngestFileResult(BaseModel):
    filename: str
    status: Literal["ingested", "duplicate", "replaced", "queued", "failed"]
    document_id: uuid.UUID | None = None
    pages: int | None = None
    chunks: int = 0
    seconds: float | None = None
    error: IngestError | None = None

    @classmethod
    def from_outcome(cls, outcome: FileOutcome) -> IngestFileResult:
        if outcome.error is not None:
            error = IngestError(code=outcome.error.code, message=outcome.error.message)
            return cls(filename=outcome.filename, status="failed", error=error)
        result = outcome.result
        assert result is not None
        return cls(
            filename=result.filename,
            status=result.status.value,
            document_id=result.document_id,
            pages=result.pages,
            chunks=result.chunks,
            seconds=round(result.seconds, 3),
        )


class IngestResponse(BaseModel):
    results: list[IngestFileResult]


class DocumentRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    filename: str
    mime: str
    title: str | None
    status: str
    pages: int | None
    chunk_count: int
    error: str | None
    uploaded_by: uuid.UUID | None
    created_at: datetime

    @classmethod
    def of(cls, document: Document, chunk_count: int, **extra: Any) -> Self:
        columns = DocumentRead.model_fields.keys() - {"chunk_count"}
        return cls(
            **{name: getattr(document, name) for name in columns}, chunk_count=chunk_count, **extra
        )


class ChunkRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    ordinal: int
    heading_path: str | None
    page: int | None
    text: str


class DocumentDetail(DocumentRead):
    chunks: list[ChunkRead]


class SearchResults(BaseModel):
    query: str
    mode: RetrievalMode
    hits: list[DocChunkHit]  # the retriever's own hits (a dataclass pydantic can describe)

    @classmethod
    def of(cls, query: str, mode: RetrievalMode, hits: list[DocChunkHit]) -> SearchResults:
        return cls(query=query, mode=mode, hits=hits)
