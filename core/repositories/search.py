"""Candidate lists for hybrid retrieval: pgvector kNN (HNSW, cosine) and BM25 full-text.

Each function returns ids ranked best-first (vector searches with their cosine similarity, which
the agent's handoff and classifier are calibrated on); core.retrieval fuses them.

Full-text is BM25 as a sparse inner product. Every searchable row stores its lexemes' BM25
document weights as a sparsevec (`search_terms`, migration 0009); a query is the sparsevec of its
lexemes' IDF, taken from the corpus's term statistics (`search_term_stats`, refreshed by
`SearchStatsRepository`), and a row's score is the inner product.

Ranking every row that shares a word with a 30-word ticket reads most of the table, so the
candidates come from two indexes and are then scored exactly:
- an HNSW index on the sparse vectors finds the rows that share many weighty words with the
  query: the `ef_search` rows nearest to it by cosine (sparsevec_cosine_ops, migration 0010;
  ef_construction 128, migration 0012), then ranked by the inner product. A graph on inner
  products strands more queries as the table grows (every row links to the few longest,
  heaviest ones); `hnsw.ef_search` trades exactness for time;
- the graph links a row mostly to rows like it, so a row standing out by one rare word (an
  error code, a product name) or by several of the query's weightiest words (each common alone,
  the row's neighbours elsewhere) can be unreachable in it: the GIN index on the tsvector adds
  the rows with the query's rarest words, and with two of its HEAVY_WORDS rarest words, up to
  RARE_TERM_ROWS rows by their estimated counts (`gin_matches`).
benchmarks/README.md ("Retrieval at scale") measures both against scoring every row.
"""

from __future__ import annotations

import itertools
import json
import math
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from core.concurrency import side_by_side

TERM_DIMENSIONS = 2**28  # as migration 0009's inferra_term_dim: md5's first 7 hex digits
SPARSE = f"sparsevec({TERM_DIMENSIONS})"
# Bind parameters inline, not from a CTE: HNSW serves ORDER BY column <=> constant only.
V = f"CAST(:v AS {SPARSE})"
# One GIN scan per tsquery (a bitmap index scan runs once per array element), so each pair is
# read through its two words' postings, not through the union of every word's.
RARE = "ANY(CAST(:rare AS tsquery[]))"

# The corpora whose term statistics give the query side's IDF: table, tsvector column, and the
# rows each one counts and searches.
CORPORA = {
    "tickets": ("tickets", "search_tsv", "accepted_resolution_id IS NOT NULL"),
    "documents": ("document_chunks", "tsv", "TRUE"),
}
RARE_TERM_ROWS = 600  # rows the GIN side reads, by estimated counts
RARE_CAP = 2 * RARE_TERM_ROWS  # the most such rows read, however wrong the estimates
HEAVY_WORDS = 12  # the query's rarest words, whose pairs GIN also reads
GIN_SCANS = 64  # the most tsqueries (index scans) per search: a 10,000-character ticket of
# words no row has would otherwise be a scan per word
# From this many rows in a corpus, the GIN side of a search runs in a session of its own beside
# the graph's (at 1M each side takes several milliseconds: benchmarks/README.md, "Fourteenth
# session"); below it the search stays one statement on one connection.
SIDE_BY_SIDE_ROWS = 100_000
STALE_FRACTION = 0.05  # refresh once rows written since the last refresh exceed 5 % of the corpus


# Opens the session a search's GIN side may run in (nothing is connected until it is called).
GinSide = Callable[[], Awaitable["SearchRepository"]]


@dataclass(frozen=True)
class NearestResolution:
    embedding: list[float]
    similarity: float
    summary: str


def _vector_literal(vector: Sequence[float]) -> str:
    return "[" + ",".join(f"{x:.7f}" for x in vector) + "]"


@dataclass(frozen=True)
class QueryTerm:
    lexeme: str
    dim: int
    idf: float
    docs: int  # rows of the corpus containing it, at the last statistics refresh
    corpus_docs: int  # the corpus's rows, at the same refresh


def idf(docs_with_term: int, corpus_docs: int) -> float:
    """BM25's IDF, always positive; with no statistics yet every term weighs ln 2."""
    total = max(corpus_docs, docs_with_term)
    return math.log(1 + (total - docs_with_term + 0.5) / (docs_with_term + 0.5))


def gin_matches(terms: Sequence[QueryTerm], rows: int = RARE_TERM_ROWS) -> list[str]:
    """The tsqueries the GIN side reads while their estimated rows add up to at most `rows`:
    first the query's rarest words alone (by document count), then pairs of the HEAVY_WORDS
    rarest of the others, the most selective first (docs_a x docs_b / corpus rows: as if
    independent); at most GIN_SCANS of them. Lexemes are quoted: taken as they are, never as
    syntax."""
    by_rarity = sorted(terms, key=lambda t: (t.docs, t.lexeme))
    running = itertools.accumulate(t.docs for t in by_rarity)
    alone = [t for t, upto in zip(by_rarity, running, strict=True) if upto <= rows]
    chosen = [_quoted(t.lexeme) for t in alone]
    total = float(sum(t.docs for t in alone))
    corpus = max([1, *(t.corpus_docs for t in terms)])
    heavy = by_rarity[len(alone) : len(alone) + HEAVY_WORDS]
    pairs = sorted(
        (a.docs * b.docs / corpus, f"{_quoted(a.lexeme)} & {_quoted(b.lexeme)}")
        for a, b in itertools.combinations(heavy, 2)
    )
    for estimate, both in pairs:
        if total + estimate > rows:
            break
        total += estimate
        chosen.append(both)
    return chosen[:GIN_SCANS]


def _quoted(lexeme: str) -> str:
    return "'" + lexeme.replace("\\", "\\\\").replace("'", "''") + "'"


def query_vector(terms: Sequence[QueryTerm]) -> str:
    weights: dict[int, float] = {}
    for term in terms:  # two lexemes may share a hashed dimension: their weights add up
        weights[term.dim] = weights.get(term.dim, 0.0) + term.idf
    body = ",".join(f"{dim}:{weight:.6f}" for dim, weight in sorted(weights.items()))
    return f"{{{body}}}/{TERM_DIMENSIONS}"


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

    async def bound_lock_wait(self, milliseconds: int) -> None:
        """Transaction-local: a statement waiting longer than this for a lock fails (55P03)."""
        await self.session.execute(
            text("SELECT set_config('lock_timeout', :ms, true)"), {"ms": f"{milliseconds}ms"}
        )

    async def doc_chunks_by_vector(
        self, vector: Sequence[float], limit: int
    ) -> list[tuple[uuid.UUID, float]]:
        rows = await self.session.execute(
            text(
                "SELECT id, 1 - (embedding <=> CAST(:v AS vector)) FROM document_chunks"
                " WHERE embedding IS NOT NULL ORDER BY embedding <=> CAST(:v AS vector) LIMIT :n"
            ),
            {"v": _vector_literal(vector), "n": limit},
        )
        return [(r[0], float(r[1])) for r in rows]

    async def resolved_tickets_by_vector(
        self, vector: Sequence[float], limit: int, exclude: uuid.UUID | None = None
    ) -> list[tuple[uuid.UUID, float]]:
        """Tickets with an accepted resolution, by their own embedding or their public comments'
        (internal comments never steer what a requester is shown)."""
        rows = await self.session.execute(
            text(
                """
                SELECT ticket_id, 1 - min(d) FROM (
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
        return [(r[0], float(r[1])) for r in rows]

    async def labelled_neighbours(
        self, vector: Sequence[float], limit: int, exclude: uuid.UUID | None = None
    ) -> list[tuple[str, float]]:
        """(category, cosine similarity) of the nearest tickets with an accepted resolution:
        the labelled evidence of the offline classifier."""
        rows = await self.session.execute(
            text(
                """
                SELECT t.category, 1 - (t.embedding <=> CAST(:v AS vector))
                  FROM tickets t
                 WHERE t.accepted_resolution_id IS NOT NULL AND t.embedding IS NOT NULL
                   AND t.category IS NOT NULL AND t.id IS DISTINCT FROM :exclude
                 ORDER BY t.embedding <=> CAST(:v AS vector) LIMIT :n
                """
            ),
            {"v": _vector_literal(vector), "n": limit, "exclude": exclude},
        )
        return [(str(r[0]), float(r[1])) for r in rows]

    async def nearest_resolution(
        self, vector: Sequence[float], exclude: uuid.UUID | None = None
    ) -> NearestResolution | None:
        """The resolved ticket nearest to the query by its own embedding: its embedding, cosine
        similarity and the summary of its accepted resolution (staff's words). A resolution
        someone found not helpful is passed over: it may point the wrong way."""
        row = (
            await self.session.execute(
                text(
                    """
                    SELECT t.embedding::text, 1 - (t.embedding <=> CAST(:v AS vector)), r.summary
                      FROM tickets t JOIN resolutions r ON r.id = t.accepted_resolution_id
                     WHERE t.embedding IS NOT NULL AND t.id IS DISTINCT FROM :exclude
                       AND NOT EXISTS (SELECT 1 FROM feedback f WHERE f.resolution_id = r.id
                                          AND f.verdict = 'not_helpful')
                     ORDER BY t.embedding <=> CAST(:v AS vector) LIMIT 1
                    """
                ),
                {"v": _vector_literal(vector), "exclude": exclude},
            )
        ).first()
        if row is None:
            return None
        return NearestResolution(json.loads(row[0]), float(row[1]), row[2])

    async def query_terms(self, corpus: str, query: str) -> list[QueryTerm]:
        """The query's lexemes (the same english configuration as the rows') with their IDF."""
        rows = await self.session.execute(
            text(
                """
                SELECT q.lexeme, inferra_term_dim(q.lexeme), coalesce(s.docs, 0),
                       coalesce((SELECT docs FROM search_corpus_stats WHERE corpus = :c), 0)
                  FROM unnest(to_tsvector('english', :q)) AS q
                  LEFT JOIN search_term_stats s ON s.corpus = :c AND s.lexeme = q.lexeme
                """
            ),
            {"q": query, "c": corpus},
        )
        return [QueryTerm(r[0], r[1], idf(r[2], r[3]), r[2], r[3]) for r in rows]

    async def doc_chunks_by_text(
        self,
        query: str,
        limit: int,
        *,
        ef_search: int,
        beside: GinSide | None = None,
    ) -> list[tuple[uuid.UUID, float]]:
        """Knowledge-base chunks sharing a word with the query, by BM25 score."""
        graph = f"""(SELECT c.id, -(c.search_terms <#> {V}) AS score FROM document_chunks c
                      ORDER BY c.search_terms <=> {V} LIMIT :pool)"""
        gin = f"""(SELECT c.id, -(c.search_terms <#> {V}) AS score FROM document_chunks c
                    WHERE c.tsv @@ {RARE} LIMIT :rare_cap)"""
        return await self._bm25("documents", query, ([graph], [gin]), limit, ef_search, {}, beside)

    async def resolved_tickets_by_text(
        self,
        query: str,
        limit: int,
        exclude: uuid.UUID | None = None,
        *,
        ef_search: int,
        beside: GinSide | None = None,
    ) -> list[tuple[uuid.UUID, float]]:
        """Tickets with an accepted resolution by BM25 score, of their own text or of a public
        comment's (the better of the two)."""
        tickets = "t.accepted_resolution_id IS NOT NULL AND t.id IS DISTINCT FROM :exclude"
        comments = f"""FROM ticket_comments c JOIN tickets t ON t.id = c.ticket_id
                       WHERE NOT c.internal AND {tickets}"""
        graph = [
            f"""(SELECT t.id, -(t.search_terms <#> {V}) AS score FROM tickets t WHERE {tickets}
                  ORDER BY t.search_terms <=> {V} LIMIT :pool)""",
            f"""(SELECT c.ticket_id, -(c.search_terms <#> {V}) AS score {comments}
                  ORDER BY c.search_terms <=> {V} LIMIT :pool)""",
        ]
        gin = [
            f"""(SELECT t.id, -(t.search_terms <#> {V}) AS score FROM tickets t WHERE {tickets}
                  AND t.search_tsv @@ {RARE} LIMIT :rare_cap)""",
            f"""(SELECT c.ticket_id, -(c.search_terms <#> {V}) AS score {comments}
                  AND c.tsv @@ {RARE} LIMIT :rare_cap)""",
        ]
        params = {"exclude": exclude}
        return await self._bm25("tickets", query, (graph, gin), limit, ef_search, params, beside)

    async def ranked_exactly(
        self, corpus: str, query: str, limit: int
    ) -> list[tuple[uuid.UUID, float]]:
        """The true BM25 top `limit` of a corpus's own rows with their scores (every one scored,
        no graph; not the tickets' comments): the reference the graph's candidates are measured
        against."""
        table, _, rows = CORPORA[corpus]
        terms = await self.query_terms(corpus, query)
        await self.session.execute(text("SET LOCAL enable_indexscan = off"))
        found = await self.session.execute(
            text(
                f"SELECT id, -(search_terms <#> {V}) FROM {table}"
                f" WHERE {rows} AND search_terms <#> {V} < 0"
                f" ORDER BY search_terms <#> {V}, id LIMIT :n"
            ),
            {"v": query_vector(terms), "n": limit},
        )
        return [(r[0], float(r[1])) for r in found]

    async def _bm25(
        self,
        corpus: str,
        query: str,
        sides: tuple[list[str], list[str]],
        limit: int,
        ef_search: int,
        params: dict,
        beside: GinSide | None,
    ) -> list[tuple[uuid.UUID, float]]:
        """Run a BM25 search (its :v, :rare, :n, :pool, :rare_cap bound here). `sides`: the
        graph's branches (the `ef_search` nearest rows by cosine each) and the GIN index's, all
        scored by BM25. With `beside`, in a corpus of SIDE_BY_SIDE_ROWS or more, the GIN side
        runs in the session it gives, at the same time as the graph's here."""
        terms = await self.query_terms(corpus, query)
        if not terms:
            return []
        bound = {
            "v": query_vector(terms),
            "rare": gin_matches(terms),
            "n": limit,
            "pool": max(limit, ef_search),
            "rare_cap": RARE_CAP,
            **params,
        }
        graph, gin = sides
        if beside is None or terms[0].corpus_docs < SIDE_BY_SIDE_ROWS:
            await self.tune_hnsw(ef_search)
            return await self._best(graph + gin, bound)

        async def by_graph() -> list[tuple[uuid.UUID, float]]:
            await self.tune_hnsw(ef_search)
            return await self._best(graph, bound)

        async def by_gin(side: GinSide) -> list[tuple[uuid.UUID, float]]:
            return await (await side())._best(gin, bound)

        found = await side_by_side(by_graph(), by_gin(beside))
        best: dict[uuid.UUID, float] = {}
        for id_, score in itertools.chain(*found):
            best[id_] = max(score, best.get(id_, score))
        return sorted(best.items(), key=lambda hit: (-hit[1], hit[0]))[:limit]

    async def _best(self, branches: list[str], bound: dict) -> list[tuple[uuid.UUID, float]]:
        """The top :n rows of the branches' union by their best score (a ticket may be found
        through its own text and through a comment's)."""
        union = " UNION ALL ".join(branches)
        rows = await self.session.execute(
            text(
                f"SELECT id, max(score) AS best FROM ({union}) hits(id, score)"
                " WHERE score > 0 GROUP BY id ORDER BY best DESC, id LIMIT :n"
            ),
            bound,
        )
        return [(r[0], float(r[1])) for r in rows]


class SearchStatsRepository:
    """Per-corpus term statistics (how many rows contain each lexeme), the IDF of BM25 queries.
    Recomputed whole with ts_stat; refreshed when the corpus's table has seen writes (inserts,
    updates, deletes, from pg_stat_user_tables) above STALE_FRACTION of its rows since the last
    refresh. Between refreshes a word new to the corpus counts as rare."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def refresh(self, corpus: str) -> int:
        """Recompute a corpus's statistics; returns its row count. One refresh at a time (the
        worker's periodic task and a CLI load could meet): the second waits, then redoes it."""
        table, column, rows = CORPORA[corpus]
        rows_sql = f"SELECT {column} FROM {table} WHERE {rows}"
        await self.session.execute(
            text("SELECT pg_advisory_xact_lock(hashtext('inferra_search_stats'), 0)")
        )
        await self.session.execute(
            text("DELETE FROM search_term_stats WHERE corpus = :c"), {"c": corpus}
        )
        await self.session.execute(
            text(
                "INSERT INTO search_term_stats (corpus, lexeme, docs)"
                " SELECT :c, word, ndoc FROM ts_stat(:rows)"
            ),
            {"c": corpus, "rows": rows_sql},
        )
        docs = (
            await self.session.execute(text(f"SELECT count(*) FROM ({rows_sql}) r"))
        ).scalar_one()
        await self.session.execute(
            text(
                """
                INSERT INTO search_corpus_stats (corpus, docs, changes_seen, refreshed_at)
                VALUES (:c, :docs, :changes, now())
                ON CONFLICT (corpus) DO UPDATE SET docs = EXCLUDED.docs,
                  changes_seen = EXCLUDED.changes_seen, refreshed_at = EXCLUDED.refreshed_at
                """
            ),
            {"c": corpus, "docs": docs, "changes": await self._writes(table)},
        )
        return int(docs)

    async def refresh_stale(self) -> list[str]:
        """Refresh the corpora written to enough since their last refresh; returns their names."""
        refreshed = []
        for corpus, (table, _, _) in CORPORA.items():
            seen = (
                await self.session.execute(
                    text("SELECT docs, changes_seen FROM search_corpus_stats WHERE corpus = :c"),
                    {"c": corpus},
                )
            ).first()
            writes = await self._writes(table)
            if seen is None or abs(writes - seen[1]) > STALE_FRACTION * seen[0]:
                await self.refresh(corpus)
                refreshed.append(corpus)
        return refreshed

    async def _writes(self, table: str) -> int:
        row = await self.session.execute(
            text(
                "SELECT coalesce(n_tup_ins + n_tup_upd + n_tup_del, 0) FROM pg_stat_user_tables"
                " WHERE relid = CAST(:t AS regclass)"
            ),
            {"t": table},
        )
        return int(row.scalar_one_or_none() or 0)
