"""Hybrid retrieval shared by the agent and the KB search endpoint.

Candidates come from pgvector kNN and Postgres full-text (core.repositories.search); they are
fused with weighted reciprocal rank fusion: score = sum_i w_i / (k + rank_i). The weights and the
mode are settings, tuned on the evals dataset. Knowledge-base chunks are then capped per document
(`RETRIEVAL_CHUNKS_PER_DOCUMENT`, two by default), so that one runbook's sections do not fill the
evidence; they are searched with feedback from the nearest resolved ticket (`_with_feedback`).
Each hit keeps its cosine similarity to the query (when the vector search found it): the offline
classifier and handoff are calibrated on it.
"""

from __future__ import annotations

import math
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace

from sqlalchemy import literal, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.concurrency import side_by_side
from core.models import Document, DocumentChunk, Resolution, Ticket
from core.providers.embeddings import Embedder
from core.repositories.feedback import FeedbackRepository
from core.repositories.search import GinSide, SearchRepository
from core.settings import RetrievalMode, Settings


@dataclass(frozen=True)
class FusedHit:
    id: uuid.UUID
    score: float
    vector_rank: int | None
    fulltext_rank: int | None
    similarity: float | None = None


def fuse(
    vector_ids: Sequence[uuid.UUID],
    fulltext_ids: Sequence[uuid.UUID],
    *,
    k: int,
    weight_vector: float,
    weight_fulltext: float,
    top_k: int,
    similarity: dict[uuid.UUID, float] | None = None,
) -> list[FusedHit]:
    vector_rank = {id_: i + 1 for i, id_ in enumerate(vector_ids)}
    text_rank = {id_: i + 1 for i, id_ in enumerate(fulltext_ids)}
    scored = []
    for id_ in dict.fromkeys([*vector_ids, *fulltext_ids]):
        score = 0.0
        if id_ in vector_rank:
            score += weight_vector / (k + vector_rank[id_])
        if id_ in text_rank:
            score += weight_fulltext / (k + text_rank[id_])
        scored.append(
            FusedHit(
                id_, score, vector_rank.get(id_), text_rank.get(id_), (similarity or {}).get(id_)
            )
        )
    scored.sort(key=lambda h: (-h.score, str(h.id)))
    return scored[:top_k]


@dataclass(frozen=True)
class SimilarTicket:
    id: uuid.UUID
    title: str
    description: str
    category: str | None
    resolution_summary: str
    solution_steps: list[str]
    score: float
    vector_rank: int | None
    fulltext_rank: int | None
    similarity: float | None


@dataclass(frozen=True)
class DocChunkHit:
    id: uuid.UUID
    document_id: uuid.UUID
    filename: str
    heading_path: str | None
    page: int | None
    text: str
    score: float
    vector_rank: int | None
    fulltext_rank: int | None
    similarity: float | None


Ranked = list[tuple[uuid.UUID, float]]  # (id, score) best first, as a search half returns

# classify and the two retrieve nodes of a run embed the same query text: embed it once.
_QUERY_VECTORS: OrderedDict[tuple[str, str], list[float]] = OrderedDict()
QUERY_CACHE_SIZE = 256


# The caller's session keeps its read locks while the full-text half runs in a second one. A
# schema change (ALTER TABLE, TRUNCATE) that waits for the first queues ahead of the second's
# locks: the three would wait on each other for ever, a cycle Postgres cannot detect (one of its
# edges is this process awaiting the second). Bounded, the second fails instead (55P03), the run's
# attempt fails and lets go of its locks, and the job is retried (tests/test_retrieval.py).
SIDE_SESSION_LOCK_TIMEOUT_MS = 3000


class Retriever:
    def __init__(
        self,
        settings: Settings,
        embedder: Embedder,
        sessionmaker: async_sessionmaker[AsyncSession] | None = None,
    ) -> None:
        """`sessionmaker`: lets the full-text half run beside the vector half, in a session of
        its own (without it, both run one after the other in the caller's session)."""
        self.settings = settings
        self.embedder = embedder
        self.sessionmaker = sessionmaker

    async def query_vector(self, query: str) -> list[float]:
        key = (self.embedder.name, query)
        if key in _QUERY_VECTORS:
            _QUERY_VECTORS.move_to_end(key)
            return _QUERY_VECTORS[key]
        vector = await self.embedder.embed_query(query)
        _QUERY_VECTORS[key] = vector
        if len(_QUERY_VECTORS) > QUERY_CACHE_SIZE:
            _QUERY_VECTORS.popitem(last=False)
        return vector

    async def labelled_neighbours(
        self, session: AsyncSession, query: str, *, exclude: uuid.UUID | None = None
    ) -> list[tuple[str, float]]:
        """(category, similarity) of the resolved tickets nearest to the query, nearest first."""
        repo = SearchRepository(session)
        await repo.tune_hnsw(self.settings.hnsw_ef_search)
        return await repo.labelled_neighbours(
            await self.query_vector(query), self.settings.classify_neighbours, exclude
        )

    async def _ranked(
        self,
        repo: SearchRepository,
        vector_search: Callable[[SearchRepository, list[float], int], Awaitable[Ranked]],
        text_search: Callable[[SearchRepository, str, int, GinSide | None], Awaitable[Ranked]],
        vector: list[float] | None,
        text_query: str,
        mode: RetrievalMode,
        top_k: int | None = None,
    ) -> list[FusedHit]:
        """Both halves' candidates, fused. With a sessionmaker the full-text half runs beside
        the vector half, in a session of its own, and in a large corpus its GIN side in another
        (at 1M tickets the vector half takes ~5 ms, the graph side 3-6, the GIN side 6-9)."""
        s = self.settings
        n = max(s.retrieval_candidates, s.retrieval_top_k)
        use_vector = vector is not None and mode in (RetrievalMode.vector, RetrievalMode.hybrid)
        use_text = mode in (RetrievalMode.fulltext, RetrievalMode.hybrid)
        # Sessions of the full-text half's own, when both halves run and they can be opened.
        own = self.sessionmaker if use_vector and use_text else None

        async def vector_half() -> Ranked:
            return await vector_search(repo, vector, n) if use_vector and vector else []

        async def text_half() -> Ranked:
            if not use_text:
                return []
            if own is None:
                return await text_search(repo, text_query, n, None)
            async with own() as session, own() as gin_session:
                side = SearchRepository(session)
                await side.bound_lock_wait(SIDE_SESSION_LOCK_TIMEOUT_MS)

                async def gin_side() -> SearchRepository:
                    # Only a large corpus's search connects it (SIDE_BY_SIDE_ROWS).
                    gin = SearchRepository(gin_session)
                    await gin.bound_lock_wait(SIDE_SESSION_LOCK_TIMEOUT_MS)
                    return gin

                return await text_search(side, text_query, n, gin_side)

        if own is not None:
            by_vector, by_text = await side_by_side(vector_half(), text_half())
        else:  # one session: one statement at a time
            by_vector, by_text = await vector_half(), await text_half()
        similarity = dict(by_vector)
        return fuse(
            list(similarity),
            [id_ for id_, _ in by_text],
            similarity=similarity,
            k=s.rrf_k,
            weight_vector=s.fusion_weight_vector,
            weight_fulltext=s.fusion_weight_fulltext,
            top_k=top_k or s.retrieval_top_k,
        )

    async def _vector_of(self, query: str, mode: RetrievalMode) -> list[float] | None:
        return None if mode is RetrievalMode.fulltext else await self.query_vector(query)

    async def similar_tickets(
        self,
        session: AsyncSession,
        query: str,
        *,
        exclude: uuid.UUID | None = None,
        mode: RetrievalMode | None = None,
    ) -> list[SimilarTicket]:
        repo = SearchRepository(session)
        await repo.tune_hnsw(self.settings.hnsw_ef_search)
        mode = mode or self.settings.retrieval_mode
        hits = await self._ranked(
            repo,
            lambda r, v, n: r.resolved_tickets_by_vector(v, n, exclude),
            lambda r, q, n, beside: r.resolved_tickets_by_text(
                q, n, exclude, ef_search=self.settings.hnsw_ef_search_fulltext, beside=beside
            ),
            await self._vector_of(query, mode),
            query,
            mode,
            top_k=self.settings.retrieval_candidates,
        )
        hits = await self._demote_unhelpful(session, hits)
        if not hits:
            return []
        rows = await session.execute(
            select(Ticket, Resolution)
            .join(Resolution, Resolution.id == Ticket.accepted_resolution_id)
            .where(Ticket.id.in_([h.id for h in hits]))
        )
        by_id = {t.id: (t, r) for t, r in rows}
        return [
            SimilarTicket(
                id=h.id,
                title=by_id[h.id][0].title,
                description=by_id[h.id][0].description,
                category=by_id[h.id][0].category,
                resolution_summary=by_id[h.id][1].summary,
                solution_steps=_steps(by_id[h.id][1].solutions),
                score=h.score,
                vector_rank=h.vector_rank,
                fulltext_rank=h.fulltext_rank,
                similarity=h.similarity,
            )
            for h in hits
            if h.id in by_id
        ]

    async def _demote_unhelpful(self, session: AsyncSession, hits: list[FusedHit]):
        counts = await FeedbackRepository(session).not_helpful_counts([h.id for h in hits])
        factor = self.settings.feedback_demotion_factor
        rescored = [
            replace(h, score=h.score * factor ** counts[h.id]) if h.id in counts else h
            for h in hits
        ]
        rescored.sort(key=lambda h: (-h.score, str(h.id)))
        return rescored[: self.settings.retrieval_top_k]

    async def doc_chunks(
        self,
        session: AsyncSession,
        query: str,
        *,
        exclude: uuid.UUID | None = None,
        mode: RetrievalMode | None = None,
    ) -> list[DocChunkHit]:
        """KB chunks for the query, searched with feedback from the nearest resolved ticket
        (`exclude`: the ticket being resolved, never its own feedback). Each hit's similarity
        stays the cosine to the query itself."""
        repo = SearchRepository(session)
        await repo.tune_hnsw(self.settings.hnsw_ef_search)
        mode = mode or self.settings.retrieval_mode
        vector = await self._vector_of(query, mode)
        search_vector, search_text = await self._with_feedback(repo, vector, query, exclude)
        hits = await self._ranked(
            repo,
            lambda r, v, n: r.doc_chunks_by_vector(v, n),
            lambda r, q, n, beside: r.doc_chunks_by_text(
                q, n, ef_search=self.settings.hnsw_ef_search_fulltext, beside=beside
            ),
            search_vector,
            search_text,
            mode,
            top_k=self.settings.retrieval_candidates,
        )
        if not hits:
            return []
        # The columns a hit shows, not the whole row: parsing 30 embeddings costs milliseconds.
        cosine = (1 - DocumentChunk.embedding.cosine_distance(vector)) if vector else literal(None)
        rows = await session.execute(
            select(
                DocumentChunk.id,
                DocumentChunk.document_id,
                Document.filename,
                DocumentChunk.heading_path,
                DocumentChunk.page,
                DocumentChunk.text,
                cosine.label("cosine"),
            )
            .join(Document, Document.id == DocumentChunk.document_id)
            .where(DocumentChunk.id.in_([h.id for h in hits]))
        )
        by_id = {row.id: row for row in rows}
        chunks = [
            DocChunkHit(
                id=h.id,
                document_id=by_id[h.id].document_id,
                filename=by_id[h.id].filename,
                heading_path=by_id[h.id].heading_path,
                page=by_id[h.id].page,
                text=by_id[h.id].text,
                score=h.score,
                vector_rank=h.vector_rank,
                fulltext_rank=h.fulltext_rank,
                similarity=by_id[h.id].cosine if h.vector_rank is not None else None,
            )
            for h in hits
            if h.id in by_id
        ]
        return per_document(
            chunks, self.settings.retrieval_chunks_per_document, self.settings.retrieval_top_k
        )

    async def _with_feedback(
        self,
        repo: SearchRepository,
        vector: list[float] | None,
        query: str,
        exclude: uuid.UUID | None,
    ) -> tuple[list[float] | None, str]:
        """Pseudo-relevance feedback: a requester's words ("my VPN keeps kicking me out") are
        far from a runbook's, the resolved ticket nearest to them is not: the search vector
        moves towards that ticket's (RETRIEVAL_FEEDBACK_WEIGHT) and its resolution summary, in
        staff's words, joins the full-text query. Docs MRR v1 0.901 -> 0.961, v2 0.939 -> 0.964
        (README, Quality). Only a close enough ticket counts: a far one points elsewhere."""
        weight = self.settings.retrieval_feedback_weight
        if vector is None or weight == 0:
            return vector, query
        nearest = await repo.nearest_resolution(vector, exclude)
        if nearest is None or nearest.similarity < self.settings.retrieval_feedback_min_similarity:
            return vector, query
        moved = [q + weight * t for q, t in zip(vector, nearest.embedding, strict=True)]
        norm = math.sqrt(sum(x * x for x in moved)) or 1.0
        return [x / norm for x in moved], f"{query}\n{nearest.summary}"


def per_document(chunks: Sequence[DocChunkHit], limit: int, top_k: int) -> list[DocChunkHit]:
    """The best-ranked chunks, at most `limit` of each document, `top_k` in all. A document
    ranks by its best chunk: with limit 1 the top_k documents each bring that chunk, where the
    plain top_k chunks could be three sections of one runbook and crowd out the right one."""
    kept: list[DocChunkHit] = []
    taken: dict[uuid.UUID, int] = {}
    for chunk in chunks:
        if taken.get(chunk.document_id, 0) < limit:
            kept.append(chunk)
            taken[chunk.document_id] = taken.get(chunk.document_id, 0) + 1
            if len(kept) == top_k:
                break
    return kept


def _steps(solutions: list[dict]) -> list[str]:
    steps: list[str] = []
    for solution in solutions:
        steps.extend(str(s) for s in solution.get("steps", []))
    return steps
