"""The knowledge-base page: multi-file upload with each file's status, the documents, a
document's chunks, delete, and the agent's search with its ranks and fused score."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from api.console.web import ConsoleRoute, ConsoleStaff, redirect, render
from api.deps import RuntimeDep, SessionDep
from api.kb import uploads
from api.kb.schemas import IngestFileResult
from core.pagination import PageRequest
from core.settings import RetrievalMode
from services import knowledge_base

router = APIRouter(prefix="/console/kb", route_class=ConsoleRoute, include_in_schema=False)
DOCUMENTS_PAGE_SIZE = 25


async def _kb_page(
    request: Request,
    user,
    session,
    runtime,
    *,
    page: int = 1,
    q: str | None = None,
    mode: RetrievalMode | None = None,
    results: list[IngestFileResult] | None = None,
) -> Response:
    documents = await knowledge_base.list_documents(
        session=session, page=PageRequest(page=page, page_size=DOCUMENTS_PAGE_SIZE)
    )
    hits, used_mode = None, None
    if q:
        used_mode, hits = await knowledge_base.search(
            session=session, runtime=runtime, query=q, mode=mode
        )
    context = {
        "documents": documents,
        "q": q or "",
        "mode": used_mode,
        "modes": list(RetrievalMode),
        "hits": hits,
        "results": results,
    }
    return render(request, "kb.html", context, user=user)


@router.get("")
async def kb_page(
    request: Request,
    user: ConsoleStaff,
    session: SessionDep,
    runtime: RuntimeDep,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    q: Annotated[str | None, Query(max_length=500)] = None,
    mode: RetrievalMode | None = None,
) -> Response:
    return await _kb_page(request, user, session, runtime, page=page, q=q, mode=mode)


@router.post("/upload")
async def upload(
    request: Request, user: ConsoleStaff, session: SessionDep, runtime: RuntimeDep
) -> Response:
    """The API's upload path (same limits, each file in its own savepoint), shown as a page."""
    outcomes = await uploads.ingest_uploads(
        request=request, session=session, runtime=runtime, user=user
    )
    results = [IngestFileResult.from_outcome(o) for o in outcomes]
    return await _kb_page(request, user, session, runtime, results=results)


@router.get("/documents/{document_id}")
async def document_page(
    request: Request, document_id: uuid.UUID, user: ConsoleStaff, session: SessionDep
) -> Response:
    document, chunks = await knowledge_base.document_with_chunks(
        session=session, document_id=document_id
    )
    context = {"document": document, "chunks": chunks}
    if request.headers.get("hx-request"):  # the upload list polling a queued file
        return render(request, "_document_status.html", context, user=user)
    return render(request, "document.html", context, user=user)


@router.get("/chunks/{chunk_id}")
async def chunk(
    request: Request, chunk_id: uuid.UUID, user: ConsoleStaff, session: SessionDep
) -> Response:
    document = await knowledge_base.document_of_chunk(session=session, chunk_id=chunk_id)
    return redirect(request, f"/console/kb/documents/{document.id}#chunk-{chunk_id}")


@router.post("/documents/{document_id}/delete")
async def delete(
    request: Request, document_id: uuid.UUID, user: ConsoleStaff, session: SessionDep
) -> Response:
    await knowledge_base.delete_document(session=session, document_id=document_id, actor=user)
    return redirect(request, "/console/kb?deleted=1")
