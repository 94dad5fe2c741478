"""Candidate lists for hybrid retrieval: pgvector kNN (HNSW, cosine) and full-text (GIN).

Each function returns ids ranked best-first; core.retrieval fuses them. Full-text uses
websearch_to_tsquery with its ANDs turned into ORs: a user's sentence rarely has every word in
one document, and ts_rank_cd still ranks documents matching more terms higher.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

OR_QUERY = "CAST(replace(CAST(websearch_to_tsquery('english', :q) AS text), '&', '|') AS tsquery)"


def _vector_literal(vector: Sequence[float]) -> str:
    return "[" + ",".join(f"{x:.7f}" for x in vector) + "]"


class SearchRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def tune_hnsw(self, ef_search: int) -> None:
        # Transaction-local. relaxed_order lets filtered kNN keep scanning instead of starving.
        await self.session.execute(
            text(
                "SELECT set_config('hnsw.ef_search', :ef, true),"
                " set_config('hnsw.iterative_scan', 'relaxed_order', true)"
            ),
            {"ef": str(ef_search)},
        )

    async def doc_chunks_by_vector(self, vector: Sequence[float], limit: int) -> list[uuid.UUID]:
        rows = await self.session.execute(
            text(
                "SELECT id FROM document_chunks WHERE embedding IS NOT NULL"
                " ORDER BY embedding <=> CAST(:v AS vector) LIMIT :n"
            ),
            {"v": _vector_literal(vector), "n": limit},
        )
        return [r[0] for r in rows]

    async def doc_chunks_by_text(self, query: str, limit: int) -> list[uuid.UUID]:
        rows = await self.session.execute(
            text(
                f"WITH q AS (SELECT {OR_QUERY} AS q)"
                " SELECT c.id FROM document_chunks c, q WHERE c.tsv @@ q.q"
                " ORDER BY ts_rank_cd(c.tsv, q.q) DESC, c.id LIMIT :n"
            ),
            {"q": query, "n": limit},
        )
        return [r[0] for r in rows]

    async def resolved_tickets_by_vector(
        self, vector: Sequence[float], limit: int, exclude: uuid.UUID | None = None
    ) -> list[uuid.UUID]:
        """Tickets with an accepted resolution, by their own embedding or their public comments'
        (internal comments never steer what a requester is shown)."""
        rows = await self.session.execute(
            text(
                """
                SELECT ticket_id FROM (
                  (SELECT t.id AS ticket_id, t.embedding <=> CAST(:v AS vector) AS d
                     FROM tickets t
                    WHERE t.accepted_resolution_id IS NOT NULL AND t.embedding IS NOT NULL
                      AND t.id IS DISTINCT FROM :exclude
                    ORDER BY t.embedding <=> CAST(:v AS vector) LIMIT :n)
                  UNION ALL
                  (SELECT c.ticket_id, c.embedding <=> CAST(:v AS vector) AS d
                     FROM ticket_comments c JOIN tickets t ON t.id = c.ticket_id
                    WHERE t.accepted_resolution_id IS NOT NULL AND c.embedding IS NOT NULL
                      AND NOT c.internal AND t.id IS DISTINCT FROM :exclude
                    ORDER BY c.embedding <=> CAST(:v AS vector) LIMIT :n)
                ) hits GROUP BY ticket_id ORDER BY min(d), ticket_id LIMIT :n
                """
            ),
            {"v": _vector_literal(vector), "n": limit, "exclude": exclude},
        )
        return [r[0] for r in rows]

    async def resolved_tickets_by_text(
        self, query: str, limit: int, exclude: uuid.UUID | None = None
    ) -> list[uuid.UUID]:
        rows = await self.session.execute(
            text(
                f"""
                WITH q AS (SELECT {OR_QUERY} AS q)
                SELECT ticket_id FROM (
                  SELECT t.id AS ticket_id, ts_rank_cd(t.search_tsv, q.q) AS r
                    FROM tickets t, q
                   WHERE t.accepted_resolution_id IS NOT NULL AND t.search_tsv @@ q.q
                     AND t.id IS DISTINCT FROM :exclude
                  UNION ALL
                  SELECT c.ticket_id, ts_rank_cd(c.tsv, q.q) AS r
                    FROM ticket_comments c JOIN tickets t ON t.id = c.ticket_id, q
                   WHERE t.accepted_resolution_id IS NOT NULL AND c.tsv @@ q.q
                     AND NOT c.internal AND t.id IS DISTINCT FROM :exclude
                ) hits GROUP BY ticket_id ORDER BY max(r) DESC, ticket_id LIMIT :n
                """
            ),
            {"q": query, "n": limit, "exclude": exclude},
        )
        return [r[0] for r in rows]
