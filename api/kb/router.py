"""Knowledge-base API: upload documents (llm/ingest_doc), list, read with chunks, delete, and
search exactly as the agent does. Staff only (support and admin)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response, status

from api.deps import PageDep, RuntimeDep, SessionDep, SupportUser
from api.kb import uploads
from api.kb.schemas import (
    ChunkRead,
    DocumentDetail,
    DocumentRead,
    IngestFileResult,
    IngestResponse,
    SearchResults,
)
from api.schemas import ERROR_RESPONSES, ErrorOut, PageOut
from core.settings import RetrievalMode
from services import knowledge_base

INGEST_RESPONSES = {
    **ERROR_RESPONSES,
    **{code: {"model": ErrorOut} for code in (413, 415, 503)},
}
# The form is read by the service (after auth, within the size limits), so FastAPI does not
# see a File() parameter: the multipart body is described here for the OpenAPI UI.
UPLOAD_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": [uploads.UPLOAD_FIELD],
                    "properties": {
                        uploads.UPLOAD_FIELD: {
                            "type": "array",
                            "items": {"type": "string", "format": "binary"},
                            "description": ".pdf .docx .md .txt .html (checked by content)",
                        }
                    },
                }
            }
        },
    }
}

documents_router = APIRouter(prefix="/kb", tags=["knowledge base"], responses=ERROR_RESPONSES)
ingest_router = APIRouter(prefix="/llm", tags=["knowledge base"], responses=INGEST_RESPONSES)


@ingest_router.post(
    "/ingest_doc/",
    response_model=IngestResponse,
    openapi_extra=UPLOAD_BODY,
    responses={202: {"model": IngestResponse, "description": "A large file was queued"}},
)
@ingest_router.post("/ingest_doc", include_in_schema=False)
async def ingest_doc(
    request: Request,
    response: Response,
    staff: SupportUser,
    session: SessionDep,
    runtime: RuntimeDep,
) -> IngestResponse:
    """One or more files; 200 with a result per file if at least one was accepted (202 when a
    large one was queued for the worker: its document_id is the job), else the first file's
    error (413, 415, 422)."""
    outcomes = await uploads.ingest_uploads(
        request=request, session=session, runtime=runtime, user=staff
    )
    results = [IngestFileResult.from_outcome(o) for o in outcomes]
    if all(r.status == "failed" for r in results):
        raise uploads.all_failed(outcomes, {"results": [r.model_dump() for r in results]})
    if any(r.status == "queued" for r in results):
        response.status_code = status.HTTP_202_ACCEPTED
    return IngestResponse(results=results)


@documents_router.get("/documents", response_model=PageOut[DocumentRead])
async def list_documents(
    _: SupportUser, session: SessionDep, page: PageDep
) -> PageOut[DocumentRead]:
    result = await knowledge_base.list_documents(session=session, page=page)
    return PageOut[DocumentRead](
        items=[DocumentRead.of(row.document, row.chunk_count) for row in result.items],
        total=result.total,
        page=result.page,
        page_size=result.page_size,
    )


@documents_router.get("/documents/{document_id}", response_model=DocumentDetail)
async def get_document(
    document_id: uuid.UUID, _: SupportUser, session: SessionDep
) -> DocumentDetail:
    document, rows = await knowledge_base.document_with_chunks(
        session=session, document_id=document_id
    )
    chunks = [ChunkRead.model_validate(c) for c in rows]
    return DocumentDetail.of(document, len(chunks), chunks=chunks)


@documents_router.delete("/documents/{document_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_document(document_id: uuid.UUID, staff: SupportUser, session: SessionDep) -> None:
    await knowledge_base.delete_document(session=session, document_id=document_id, actor=staff)


@documents_router.get("/search", response_model=SearchResults)
async def search(
    _: SupportUser,
    session: SessionDep,
    runtime: RuntimeDep,
    q: Annotated[str, Query(min_length=1, max_length=500, description="a ticket's words")],
    mode: RetrievalMode | None = None,
) -> SearchResults:
    """The agent's retrieve_docs search (same Retriever, same settings), with its scores."""
    mode, hits = await knowledge_base.search(session=session, runtime=runtime, query=q, mode=mode)
    return SearchResults.of(q, mode, hits)


router = APIRouter()
router.include_router(documents_router)
router.include_router(ingest_router)
