"""Retrieval at scale: 100k or 1M resolved tickets with 384-d embeddings in pgvector.

    .venv/bin/python -m benchmarks.retrieval_scale [--rows 100000] [--queries 200]
        [--app-queries 40] [--exact-queries 50] [--legacy-queries 5]
        [--ef 20,40,80,120,200,400] [--text-ef 100,200,400] [--m 16] [--ef-construction 64]
        [--build-mem 1GB]

A fresh embedded Postgres (temp dir) migrated to head, so the tables and indexes are the app's.
--rows synthetic resolved tickets (closed, each with an accepted resolution, as imported
history) are bulk loaded with binary COPY (psycopg cursor.copy, one connection per core; each
row's tsvector and BM25 sparse vector are generated on insert). Vectors: unit vectors drawn
around --clusters random centroids (log-normal cluster sizes, per-cluster spread: tickets of
one cluster have cosine ~0.4-0.7, of different clusters ~0). Text: title, description and
resolution drawn from one ranked vocabulary (common IT words, domain words, a long tail of
made-up words; p ~ 1/(rank + 10)) mixed with the cluster's topic words (3 domain words and a
product name), so that full-text matching is skewed as in real tickets.
The migrations' HNSW indexes on tickets.embedding and tickets.search_terms are dropped before
the load and rebuilt after it, timed (the dense one with maintenance_work_mem = --build-mem).
The --queries queries are new tickets from the same clusters (not in the table): a vector, and
the title + description that the agent's retrieve_tickets searches with. Measured, client side
over the unix socket, after 20 untimed queries:
  - kNN `ORDER BY embedding <=> q LIMIT k` at each --ef value of hnsw.ef_search, for k = 10 and
    k = 30 (the app fetches RETRIEVAL_CANDIDATES = 30 candidates): p50/p95 and recall@k against
    the exact answer (a sequential scan), on the first --exact-queries queries;
  - the full-text search as it was before BM25 (every word OR-ed, ts_rank_cd over every match),
    on --legacy-queries queries, and how many rows such a query matches;
  - the app's own retrieval code at its settings, for the first --app-queries queries: the vector
    and the BM25 full-text candidate queries of core.repositories.search, each alone and both
    side by side in a session each (as Retriever runs them), and the whole
    Retriever.similar_tickets (both, fusion, feedback demotion, the rows) with the embedding
    model replaced by the precomputed query vector;
  - the full-text top 30 at each --text-ef against the exact top 30 of the same BM25 scores
    (SearchRepository.ranked_exactly: every resolved ticket scored), on the first
    --exact-queries queries: agreement (the share of the exact top 30 found) and score recall
    (the found top 30's summed score over the exact top 30's);
  - inserting 2000 more rows (one COPY) once the HNSW indexes exist.
Prints the table and the smallest ef_search that reaches recall@30 >= 0.95.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import psycopg
from pgvector.psycopg import register_vector
from psycopg.types.enum import EnumInfo, register_enum

from benchmarks.figures import machine, pct
from core import migrate
from core.db import DatabaseUrls, create_engine, create_sessionmaker
from core.embedded_pg import start_embedded_postgres, stop_embedded_postgres
from core.logging import configure_logging
from core.repositories.search import SearchRepository
from core.retrieval import Retriever
from core.settings import Settings
from services.search_stats import refresh_search_stats

DIM = 384
LOADERS = 2  # parallel COPY connections
EXTRA_ROWS = 2000  # inserted after the index exists, to time incremental inserts
KNN = "SELECT id FROM tickets ORDER BY embedding <=> %s LIMIT %s"
WARM_UP_QUERIES = 20
WARM_UP_APP = 5
# Full-text as it was before BM25 (every term OR-ed, ts_rank_cd over every matching row): timed
# on --legacy-queries queries for the before/after comparison.
LEGACY_OR_QUERY = (
    "CAST(replace(CAST(websearch_to_tsquery('english', %(q)s) AS text), '&', '|') AS tsquery)"
)
LEGACY_TEXT_SEARCH = f"""
    SELECT t.id FROM tickets t, (SELECT {LEGACY_OR_QUERY} AS q) q
     WHERE t.accepted_resolution_id IS NOT NULL AND t.search_tsv @@ q.q
     ORDER BY ts_rank_cd(t.search_tsv, q.q) DESC, t.id LIMIT 30
"""
COMMON = (
    "error not working cannot issue problem user laptop computer windows access login update "
    "slow help screen since morning today again after restart open message please urgent "
    "account new team office home network file folder connect install crash freeze page "
    "start work shared drive phone mobile link setting version fail"
).split()
DOMAIN = (
    "vpn globalprotect outlook mailbox calendar printer toner scanner bitlocker recovery key "
    "sharepoint onedrive teams zoom webex dock monitor display keyboard mouse mfa "
    "authenticator certificate wifi wireless dns proxy firewall citrix sap excel word "
    "powerpoint driver bluetooth headset webcam microphone battery charger password lockout "
    "license quota backup restore antivirus phishing spam jira confluence slack chrome edge "
    "firefox java python docker kubernetes git ssh rdp remote desktop intune autopilot "
    "compliance encryption usb hdmi adapter bios firmware ram disk ssd storage sync "
    "permission group policy domain profile cache cookie browser plugin macro pdf acrobat "
    "signature"
).split()
TAIL_WORDS = 3000
SYLLABLES = "zor vex tal mi kor pa lin dru sen qua bel tor nix fa ro gan sil ver ka lum".split()


@dataclass
class Corpus:
    vectors: np.ndarray  # (n, DIM) float32, unit norm
    titles: list[str]
    descriptions: list[str]
    resolutions: list[str]


@dataclass
class Queries:
    vectors: np.ndarray
    texts: list[str]


class Vocabulary:
    """One ranked vocabulary (common IT words, domain words, then a long tail of made-up words)
    drawn with p ~ 1/(rank + 10), and per-cluster topics: 3 domain words and a product name."""

    def __init__(self, clusters: int, rng: np.random.Generator) -> None:
        names = [a + b + c for a in SYLLABLES for b in SYLLABLES for c in SYLLABLES]
        names = [names[i] for i in rng.permutation(len(names))]
        products, tail = names[:clusters], names[clusters : clusters + TAIL_WORDS]
        self.words = np.array(COMMON + DOMAIN + tail + products)
        self.general = len(COMMON) + len(DOMAIN) + len(tail)
        weights = 1 / (np.arange(1, self.general + 1) + 10)
        self.general_p = weights / weights.sum()
        domain = rng.integers(len(COMMON), len(COMMON) + len(DOMAIN), (clusters, 3))
        product = self.general + np.arange(clusters)
        self.topics = np.column_stack([domain, product])  # (clusters, 4) word indexes

    def sentences(self, labels, n_words: int, p_topic: float, rng) -> list[str]:
        """Per row: each word is one of its cluster's topic words with p_topic, else general."""
        shape = (len(labels), n_words)
        topic = self.topics[labels[:, None], rng.integers(0, 4, shape)]
        general = rng.choice(self.general, size=shape, p=self.general_p)
        picked = self.words[np.where(rng.random(shape) < p_topic, topic, general)]
        return [" ".join(row) for row in picked]


def clustered_vectors(centroids, spreads, labels, rng) -> np.ndarray:
    noise = rng.standard_normal((len(labels), DIM), dtype=np.float32)
    vectors = centroids[labels] + noise * spreads[labels, None]
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def make_data(rows: int, n_queries: int, clusters: int, seed: int) -> tuple[Corpus, Queries]:
    rng = np.random.default_rng(seed)
    centroids = rng.standard_normal((clusters, DIM), dtype=np.float32)
    centroids /= np.linalg.norm(centroids, axis=1, keepdims=True)
    spreads = rng.uniform(0.035, 0.06, clusters).astype(np.float32)
    sizes = rng.lognormal(0, 1, clusters)
    labels = rng.choice(clusters, rows, p=sizes / sizes.sum())
    vocab = Vocabulary(clusters, rng)
    corpus = Corpus(
        vectors=clustered_vectors(centroids, spreads, labels, rng),
        titles=vocab.sentences(labels, 5, 0.6, rng),
        descriptions=vocab.sentences(labels, 25, 0.3, rng),
        resolutions=vocab.sentences(labels, 12, 0.3, rng),
    )
    # A new ticket's title + description: the text the agent's retrieve_tickets searches with.
    query_labels = rng.choice(clusters, n_queries, p=sizes / sizes.sum())
    titles = vocab.sentences(query_labels, 5, 0.6, rng)
    descriptions = vocab.sentences(query_labels, 25, 0.3, rng)
    queries = Queries(
        vectors=clustered_vectors(centroids, spreads, query_labels, rng),
        texts=[f"{t}\n{d}" for t, d in zip(titles, descriptions, strict=True)],
    )
    return corpus, queries


def load(conn: psycopg.Connection, corpus: Corpus, rows: range, owner: uuid.UUID) -> None:
    """Tickets (closed, with an accepted resolution) and their resolutions, by binary COPY."""
    ids = [(uuid.uuid4(), uuid.uuid4(), i) for i in rows]  # ticket, resolution, corpus row
    status = EnumInfo.fetch(conn, "ticket_status")
    register_enum(status, conn)
    with conn.transaction(), conn.cursor() as cur:
        cur.execute("SET LOCAL session_replication_role = replica")  # the FKs are circular
        copy_resolutions(cur, corpus, ids)
        copy_tickets(cur, corpus, ids, owner, status.enum["closed"])


def copy_resolutions(cur: psycopg.Cursor, corpus: Corpus, ids: list) -> None:
    now = datetime.now(UTC)
    columns = "id, ticket_id, version, summary, confidence, model, accepted_at"
    with cur.copy(f"COPY resolutions ({columns}) FROM STDIN WITH (FORMAT BINARY)") as copy:
        copy.set_types(["uuid", "uuid", "int4", "text", "float8", "text", "timestamptz"])
        for ticket_id, resolution_id, i in ids:
            copy.write_row((resolution_id, ticket_id, 1, corpus.resolutions[i], 1.0, "bench", now))


def copy_tickets(cur: psycopg.Cursor, corpus: Corpus, ids: list, owner: uuid.UUID, closed) -> None:
    columns = (
        "id, owner_id, title, description, status, accepted_resolution_id,"
        " resolution_text, embedding"
    )
    types = ["uuid", "uuid", "text", "text", "ticket_status", "uuid", "text", "vector"]
    with cur.copy(f"COPY tickets ({columns}) FROM STDIN WITH (FORMAT BINARY)") as copy:
        copy.set_types(types)
        for ticket_id, resolution_id, i in ids:
            title, description = corpus.titles[i], corpus.descriptions[i]
            # as core.history.ticket_retrieval_text: problem + accepted resolution
            retrieval_text = f"{title}\n{description}\nResolution: {corpus.resolutions[i]}"
            row = (ticket_id, owner, title, description, closed, resolution_id, retrieval_text)
            copy.write_row((*row, corpus.vectors[i]))


def create_owner(conn: psycopg.Connection) -> uuid.UUID:
    owner = uuid.uuid4()
    conn.execute(
        "INSERT INTO users (id, email, hashed_password) VALUES (%s, 'bench@example.com', 'x')",
        (owner,),
    )
    return owner


def build_index(conn: psycopg.Connection, m: int, ef_construction: int, mem: str) -> float:
    conn.execute("SELECT set_config('maintenance_work_mem', %s, false)", (mem,))
    started = time.perf_counter()
    options = f"m = {int(m)}, ef_construction = {int(ef_construction)}"
    conn.execute(
        "CREATE INDEX ix_tickets_embedding_hnsw ON tickets"
        f" USING hnsw (embedding vector_cosine_ops) WITH ({options})"
    )
    return time.perf_counter() - started


def build_sparse_index(conn: psycopg.Connection, definition: str) -> float:
    """The migrations' index on the BM25 sparse vectors, from their own definition
    (`pg_get_indexdef` before the bulk load): no copy of its options to keep in step."""
    started = time.perf_counter()
    conn.execute(definition)
    return time.perf_counter() - started


@dataclass
class Measured:
    label: str
    k: int
    ms: list[float]
    recall: float | None = None


def set_config(conn: psycopg.Connection, name: str, value: str) -> None:
    conn.execute("SELECT set_config(%s, %s, false)", (name, value))


def scan_of(conn: psycopg.Connection, vector: np.ndarray, k: int) -> str:
    """The scan node the planner picks for the kNN query (to show the index is used, or not)."""
    [plan] = conn.execute("EXPLAIN (FORMAT JSON) " + KNN, (vector, k)).fetchone()[0]
    nodes, found = [plan["Plan"]], []
    while nodes:
        node = nodes.pop()
        if "Scan" in node["Node Type"]:
            found.append(
                node["Node Type"] + (f" {node['Index Name']}" if "Index Name" in node else "")
            )
        nodes.extend(node.get("Plans", []))
    return ", ".join(found)


def timed_knn(conn, queries: Queries, k: int) -> tuple[list[list[uuid.UUID]], list[float]]:
    for vector in queries.vectors[:WARM_UP_QUERIES]:
        conn.execute(KNN, (vector, k)).fetchall()
    ids, ms = [], []
    for vector in queries.vectors:
        started = time.perf_counter()
        rows = conn.execute(KNN, (vector, k)).fetchall()
        ms.append((time.perf_counter() - started) * 1000)
        ids.append([r[0] for r in rows])
    return ids, ms


def recall(found: list[list[uuid.UUID]], exact: list[list[uuid.UUID]], k: int) -> float:
    return statistics.fmean(len(set(f) & set(e)) / k for f, e in zip(found, exact, strict=True))


def knn_sweep(conn, queries: Queries, efs: list[int], exact_queries: int) -> list[Measured]:
    """HNSW at each ef_search against the exact answer, on the first `exact_queries` queries."""
    results, exact = [], {}
    queries = Queries(queries.vectors[:exact_queries], queries.texts[:exact_queries])
    set_config(conn, "hnsw.iterative_scan", "relaxed_order")  # as the app sets it
    for k in (10, 30):
        set_config(conn, "enable_indexscan", "off")
        exact[k], ms = timed_knn(conn, queries, k)
        results.append(Measured(f"exact: {scan_of(conn, queries.vectors[0], k)}", k, ms, 1.0))
        set_config(conn, "enable_indexscan", "on")
        for ef in efs:
            set_config(conn, "hnsw.ef_search", str(ef))
            scan = scan_of(conn, queries.vectors[0], k)  # the planner may still prefer a seq scan
            ids, ms = timed_knn(conn, queries, k)
            label = f"ef_search={ef}: {scan}"
            results.append(Measured(label, k, ms, recall(ids, exact[k], k)))
    return results


def fulltext_matches(conn: psycopg.Connection, queries: Queries, count: int) -> list[int]:
    """Rows matching each query's OR-ed tsquery: what the legacy full-text search ranked."""
    sql = (
        f"SELECT count(*) FROM tickets t, (SELECT {LEGACY_OR_QUERY} AS q) q"
        " WHERE t.search_tsv @@ q.q"
    )
    return [conn.execute(sql, {"q": text}).fetchone()[0] for text in queries.texts[:count]]


def legacy_fulltext(conn: psycopg.Connection, queries: Queries, count: int) -> Measured:
    ms = []
    for query in queries.texts[:count]:
        started = time.perf_counter()
        conn.execute(LEGACY_TEXT_SEARCH, {"q": query}).fetchall()
        ms.append((time.perf_counter() - started) * 1000)
    return Measured("before: OR-ed tsquery ranked by ts_rank_cd (legacy)", 30, ms)


class PrecomputedEmbedder:
    """Stands in for the embedding model: returns the query's vector, so only SQL is timed."""

    name = "bench:precomputed"
    dim = DIM

    def __init__(self) -> None:
        self.vector: list[float] = []

    async def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [self.vector for _ in texts]

    async def embed_query(self, text: str) -> list[float]:
        return self.vector


async def app_retrieval(
    urls: DatabaseUrls, queries: Queries, settings: Settings, args: argparse.Namespace
) -> tuple[list[Measured], list[str]]:
    """The app's candidate queries and Retriever.similar_tickets, as the agent calls them, for
    the first --app-queries queries (after WARM_UP_APP untimed ones); then the full-text top 30
    against the exact ranking of the same BM25 scores for the first --exact-queries."""
    engine = create_engine(urls)
    sessionmaker = create_sessionmaker(engine)
    embedder = PrecomputedEmbedder()
    retriever = Retriever(settings, embedder, sessionmaker)
    n = max(settings.retrieval_candidates, settings.retrieval_top_k)
    count = args.app_queries
    parts: dict[str, list[float]] = {"vector": [], "fulltext": [], "both": [], "similar": []}
    facts = []
    try:
        started = time.perf_counter()
        await refresh_search_stats(sessionmaker, force=True)
        seconds = time.perf_counter() - started
        facts.append(f"term statistics refresh (ts_stat over both corpora): {seconds:.1f} s")
        pairs = list(zip(queries.vectors.tolist(), queries.texts, strict=True))
        for timed, batch in ((False, pairs[-WARM_UP_APP:]), (True, pairs[:count])):
            for vector, text in batch:
                halves = await candidate_halves(sessionmaker, settings, vector, text, n)
                embedder.vector = vector
                async with sessionmaker() as session:
                    t3 = time.perf_counter()
                    await retriever.similar_tickets(session, text)
                    t4 = time.perf_counter()
                if timed:
                    for name, ms in zip(parts, (*halves, t4 - t3), strict=True):
                        parts[name].append(ms * 1000)
        facts += await fulltext_agreement(
            sessionmaker, queries.texts[: args.exact_queries], n, args
        )
    finally:
        await engine.dispose()
    ef = settings.hnsw_ef_search
    return [
        Measured(f"app vector candidates (ef_search={ef})", n, parts["vector"]),
        Measured(
            f"app full-text candidates (BM25, ef_search={settings.hnsw_ef_search_fulltext})",
            n,
            parts["fulltext"],
        ),
        Measured("app hybrid: vector + full-text candidates, side by side", n, parts["both"]),
        Measured(
            f"app Retriever.similar_tickets (top {settings.retrieval_top_k})", n, parts["similar"]
        ),
    ], facts


async def candidate_halves(sessionmaker, settings: Settings, vector, text: str, n: int):
    """Seconds of the vector half, of the full-text half (each alone, in turn), and of both side
    by side, as `Retriever` runs them: the vector half in a session, the full-text half's graph
    and GIN sides in one each."""

    async def half(search) -> float:
        async with sessionmaker.begin() as session, sessionmaker.begin() as beside:
            repo = SearchRepository(session)
            await repo.tune_hnsw(settings.hnsw_ef_search)

            async def gin_side() -> SearchRepository:
                return SearchRepository(beside)

            started = time.perf_counter()
            await search(repo, gin_side)
            return time.perf_counter() - started

    async def by_vector(repo: SearchRepository, _) -> object:
        return await repo.resolved_tickets_by_vector(vector, n)

    async def by_text(repo: SearchRepository, gin_side) -> object:
        return await repo.resolved_tickets_by_text(
            text, n, ef_search=settings.hnsw_ef_search_fulltext, beside=gin_side
        )

    alone = [await half(by_vector), await half(by_text)]
    started = time.perf_counter()
    await asyncio.gather(half(by_vector), half(by_text))
    return (*alone, time.perf_counter() - started)


async def text_hits(sessionmaker, query: str, n: int, ef: int, *, exact: bool = False):
    """The app's full-text candidates with their BM25 scores, or with `exact` the true top n of
    the same scores: every resolved ticket scored (the reference)."""
    async with sessionmaker() as session:
        repo = SearchRepository(session)
        started = time.perf_counter()
        if exact:
            hits = await repo.ranked_exactly("tickets", query, n)
        else:
            hits = await repo.resolved_tickets_by_text(query, n, ef_search=ef)
        return dict(hits), (time.perf_counter() - started) * 1000


async def fulltext_agreement(sessionmaker, texts: list[str], n: int, args) -> list[str]:
    """Full-text top n through the indexes at each --text-ef vs scoring every row: the share of
    the exact top n found, and the score recall (the found rows' summed BM25 over the exact top
    n's: a miss replaced by a near-tie costs little of it). This corpus has no comments, so both
    score a ticket by its own text."""
    exact, exact_ms = [], []
    for query in texts:
        hits, ms = await text_hits(sessionmaker, query, n, 1000, exact=True)
        exact.append(hits)
        exact_ms.append(ms)
    lines = [f"full-text, exact top {n} (every row scored): p50 {pct(exact_ms, 0.5):.0f} ms"]
    for ef in sorted(int(x) for x in args.text_ef.split(",")):
        overlaps, recalls, times = [], [], []
        for query, truth in zip(texts, exact, strict=True):
            hits, ms = await text_hits(sessionmaker, query, n, ef)
            overlaps.append(len(hits.keys() & truth.keys()) / max(len(truth), 1))
            recalls.append(sum(hits.values()) / max(sum(truth.values()), 1e-9))
            times.append(ms)
        lines.append(
            f"full-text top {n} at ef_search={ef}: agreement with the exact top {n}"
            f" {statistics.fmean(overlaps):.3f} (min {min(overlaps):.3f}, {len(texts)} queries),"
            f" score recall {statistics.fmean(recalls):.4f} (min {min(recalls):.3f}),"
            f" p50 {pct(times, 0.5):.1f} ms, p95 {pct(times, 0.95):.1f} ms"
        )
    return lines


def server_settings(conn: psycopg.Connection) -> str:
    names = (
        "shared_buffers",
        "work_mem",
        "max_parallel_maintenance_workers",
        "max_parallel_workers_per_gather",
    )
    return ", ".join(f"{n}={conn.execute(f'SHOW {n}').fetchone()[0]}" for n in names)


def sizes(conn: psycopg.Connection) -> str:
    row = conn.execute(
        """
        SELECT pg_size_pretty(pg_table_size('tickets')),
               pg_size_pretty(pg_indexes_size('tickets')),
               pg_size_pretty(pg_relation_size('ix_tickets_embedding_hnsw')),
               pg_size_pretty(pg_relation_size('ix_tickets_search_tsv')),
               pg_size_pretty(pg_relation_size('ix_tickets_search_terms_hnsw')),
               (SELECT round(avg(pg_column_size(search_terms))) FROM tickets),
               (SELECT round(avg(pg_column_size(search_tsv))) FROM tickets)
        """
    ).fetchone()
    return (
        f"sizes: tickets table {row[0]} (with TOAST), its indexes {row[1]}: HNSW {row[2]},"
        f" GIN (search_tsv) {row[3]}, HNSW (search_terms) {row[4]}; per row: search_terms"
        f" {row[5]} B, search_tsv {row[6]} B"
    )


def timed(fn, *args) -> float:
    started = time.perf_counter()
    fn(*args)
    return time.perf_counter() - started


def report(facts: list[str], measured: list[Measured], matches: list[int]) -> None:
    for fact in facts:
        print(fact)
    print(f"\n{'query':<58} {'k':>3} {'p50 ms':>8} {'p95 ms':>8} {'mean ms':>8} {'recall':>7}")
    for m in measured:
        rec = f"{m.recall:7.3f}" if m.recall is not None else f"{'':>7}"
        print(
            f"{m.label:<58} {m.k:>3} {pct(m.ms, 0.5):8.2f} {pct(m.ms, 0.95):8.2f} "
            f"{statistics.fmean(m.ms):8.2f} {rec}"
        )
    print(
        "\nfull-text: rows matching a query's OR-ed tsquery: "
        f"median {statistics.median(matches):.0f}, p95 {pct(matches, 0.95):.0f}, "
        f"max {max(matches)} (the legacy search ranked all of them)"
    )
    enough = [m for m in measured if m.k == 30 and m.recall is not None and m.recall >= 0.95]
    hnsw = [m for m in enough if "hnsw" in m.label]
    if hnsw:
        print(f"smallest ef_search with recall@30 >= 0.95: {hnsw[0].label.split(':')[0]}")


def load_in_parallel(dsn: str, corpus: Corpus, rows: int, owner: uuid.UUID) -> None:
    """One COPY per core (each row's tsvector and BM25 terms are computed on insert)."""

    def part(i: int) -> None:
        with psycopg.connect(dsn, autocommit=True) as conn:
            register_vector(conn)
            load(conn, corpus, range(i, rows, LOADERS), owner)

    with ThreadPoolExecutor(LOADERS) as pool:
        list(pool.map(part, range(LOADERS)))


def load_and_index(conn, corpus: Corpus, args: argparse.Namespace, facts: list[str]) -> uuid.UUID:
    """Bulk load without the HNSW indexes, then build them; returns the tickets' owner."""
    sparse_index = conn.execute(
        "SELECT pg_get_indexdef('ix_tickets_search_terms_hnsw'::regclass)"
    ).fetchone()[0]
    conn.execute("DROP INDEX ix_tickets_embedding_hnsw")
    conn.execute("DROP INDEX ix_tickets_search_terms_hnsw")
    owner = create_owner(conn)
    load_s = timed(load_in_parallel, conn.info.dsn, corpus, args.rows, owner)
    vacuum_s = timed(conn.execute, "VACUUM ANALYZE tickets, resolutions")
    facts.append(
        f"load: binary COPY {load_s:.1f} s ({args.rows / load_s:.0f} rows/s, GIN and"
        f" btree indexes maintained, search_tsv generated); VACUUM ANALYZE {vacuum_s:.1f} s"
    )
    build_s = build_index(conn, args.m, args.ef_construction, args.build_mem)
    size = conn.execute(
        "SELECT pg_size_pretty(pg_relation_size('ix_tickets_embedding_hnsw'))"
    ).fetchone()[0]
    facts.append(
        f"HNSW build (vector_cosine_ops, m={args.m}, ef_construction={args.ef_construction},"
        f" maintenance_work_mem={args.build_mem}): {build_s:.1f} s, index {size}"
    )
    sparse_s = build_sparse_index(conn, sparse_index)
    size = conn.execute(
        "SELECT pg_size_pretty(pg_relation_size('ix_tickets_search_terms_hnsw'))"
    ).fetchone()[0]
    facts.append(
        f"HNSW build on the BM25 sparse vectors (sparsevec_cosine_ops, options"
        f" {sparse_index.partition(' WITH ')[2].split(' WHERE ')[0] or 'default'}):"
        f" {sparse_s:.1f} s, index {size}"
    )
    return owner


def main(args: argparse.Namespace) -> None:
    configure_logging("WARNING")
    efs = sorted(int(x) for x in args.ef.split(","))
    root = Path(tempfile.mkdtemp(prefix="inferra-bench-retrieval-"))
    facts = [f"machine: {machine()}"]
    started = time.perf_counter()
    corpus, queries = make_data(args.rows + EXTRA_ROWS, args.queries, args.clusters, args.seed)
    facts.append(
        f"data: {args.rows} tickets, {DIM}-d unit vectors around {args.clusters} centroids, "
        f"{args.queries} queries; generated in {time.perf_counter() - started:.1f} s"
    )
    server = start_embedded_postgres(root / "pg")
    try:
        urls = DatabaseUrls.from_any(server.get_uri())
        migrate.upgrade(urls, embedding_dim=DIM)
        with psycopg.connect(urls.libpq, autocommit=True) as conn:
            register_vector(conn)
            facts.append(f"postgres: {server_settings(conn)}")
            owner = load_and_index(conn, corpus, args, facts)
            measured = knn_sweep(conn, queries, efs, args.exact_queries)
            matches = fulltext_matches(conn, queries, args.exact_queries)
            if args.legacy_queries:
                measured.append(legacy_fulltext(conn, queries, args.legacy_queries))
            facts.append(sizes(conn))
        settings = Settings(_env_file=None)
        app_measured, app_facts = asyncio.run(app_retrieval(urls, queries, settings, args))
        measured += app_measured
        facts += app_facts
        with psycopg.connect(urls.libpq, autocommit=True) as conn:
            register_vector(conn)
            extra = range(args.rows, args.rows + EXTRA_ROWS)
            insert_s = timed(load, conn, corpus, extra, owner)
        facts.append(
            f"inserts with the HNSW index in place: {EXTRA_ROWS} rows in {insert_s:.1f} s "
            f"({EXTRA_ROWS / insert_s:.0f} rows/s, {insert_s / EXTRA_ROWS * 1000:.1f} ms per row)"
        )
    finally:
        stop_embedded_postgres(server)
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    report(facts, measured, matches)
    print(f"total {time.perf_counter() - started:.0f} s; machine after: {machine()}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument(
        "--app-queries", type=int, default=40, help="queries through the app's retrieval code"
    )
    parser.add_argument(
        "--exact-queries",
        type=int,
        default=50,
        help="queries with an exact answer (a sequential kNN scan, an unpruned full-text ranking)",
    )
    parser.add_argument(
        "--legacy-queries", type=int, default=5, help="queries through the pre-BM25 full-text SQL"
    )
    parser.add_argument(
        "--text-ef", default="100,200,400", help="hnsw.ef_search values for full-text"
    )
    parser.add_argument("--clusters", type=int, default=1000)
    parser.add_argument("--ef", default="20,40,80,120,200,400", help="hnsw.ef_search values")
    parser.add_argument("--m", type=int, default=16)
    parser.add_argument("--ef-construction", type=int, default=64)
    parser.add_argument("--build-mem", default="1GB", help="maintenance_work_mem for the build")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--keep", action="store_true", help="keep the data dir")
    main(parser.parse_args())
