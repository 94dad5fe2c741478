"""BM25 term weights (sparsevec, HNSW) for full-text retrieval, and per-corpus term statistics

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01

Each searchable row gets `search_terms`: its lexemes (the same `to_tsvector('english', ...)` as
its tsvector column) as a pgvector sparsevec, one dimension per lexeme (an md5 hash), valued with
BM25's document side: tf * (k1 + 1) / (tf + k1 * (1 - b + b * len / 60)), k1 = 1.2, b = 0.75,
len = the row's lexeme count, 60 a fixed reference length (a ticket's typical one). A row keeps
its 1,000 heaviest lexemes (pgvector's HNSW limit for sparse vectors). The query side (IDF
weights from `search_term_stats`) is built at query time: score = the inner product, searched
with an HNSW index (sparsevec_ip_ops) per table; see core/repositories/search.py.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from pgvector.sqlalchemy import SPARSEVEC

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TERM_DIMENSIONS = 268435456  # 2**28: md5's first 7 hex digits
SEARCHABLE = {
    "tickets": "coalesce(title, '') || ' ' || coalesce(description, '')"
    " || ' ' || coalesce(resolution_text, '')",
    "ticket_comments": "body",
    "document_chunks": "coalesce(heading_path, '') || ' ' || text",
}
# The rows full-text retrieval searches (the repository's queries repeat these predicates).
SEARCHED_ROWS = {
    "tickets": "accepted_resolution_id IS NOT NULL",
    "ticket_comments": "NOT internal",
    "document_chunks": None,
}


def upgrade() -> None:
    # BEGIN ATOMIC bodies are bound at creation, so they work whatever the search_path
    # (pg_dump restores recompute generated columns with an empty one).
    op.execute(
        """
        CREATE FUNCTION inferra_term_dim(lexeme text) RETURNS integer
        LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT
        RETURN ('x' || left(md5(lexeme), 7))::bit(28)::integer + 1
        """
    )
    op.execute(
        f"""
        CREATE FUNCTION inferra_bm25_terms(doc tsvector) RETURNS sparsevec
        LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT
        BEGIN ATOMIC
          WITH terms AS (
            SELECT inferra_term_dim(t.lexeme) AS dim,
                   coalesce(array_length(t.positions, 1), 1) AS tf
              FROM unnest(doc) AS t
          ), length AS (
            SELECT greatest(sum(tf), 1) AS len FROM terms
          ), weights AS (
            SELECT dim, round(tf * 2.2 / (tf + 1.2 * (0.25 + 0.75 * len / 60.0)), 5) AS weight
              FROM (SELECT dim, sum(tf) AS tf FROM terms GROUP BY dim) dims, length
             ORDER BY weight DESC, dim LIMIT 1000
          )
          SELECT CAST(
            '{{' || coalesce(string_agg(dim || ':' || weight, ',' ORDER BY dim), '')
            || '}}/{TERM_DIMENSIONS}' AS sparsevec)
            FROM weights;
        END
        """
    )
    for table, expression in SEARCHABLE.items():
        op.add_column(
            table,
            sa.Column(
                "search_terms",
                SPARSEVEC(TERM_DIMENSIONS),
                sa.Computed(
                    f"CAST(inferra_bm25_terms(to_tsvector('english', {expression}))"
                    f" AS sparsevec({TERM_DIMENSIONS}))",
                    persisted=True,
                ),
            ),
        )
        where = f" WHERE {SEARCHED_ROWS[table]}" if SEARCHED_ROWS[table] else ""
        op.execute(
            f"CREATE INDEX ix_{table}_search_terms_hnsw ON {table}"
            f" USING hnsw (search_terms sparsevec_ip_ops){where}"
        )
    op.create_table(
        "search_term_stats",
        sa.Column("corpus", sa.Text(), primary_key=True),
        sa.Column("lexeme", sa.Text(), primary_key=True),
        sa.Column("docs", sa.Integer(), nullable=False),
    )
    op.create_table(
        "search_corpus_stats",
        sa.Column("corpus", sa.Text(), primary_key=True),
        sa.Column("docs", sa.Integer(), nullable=False),
        sa.Column("changes_seen", sa.BigInteger(), nullable=False),
        sa.Column(
            "refreshed_at",
            sa.DateTime(timezone=True),
            server_default=sa.func.now(),
            nullable=False,
        ),
    )


def downgrade() -> None:
    op.drop_table("search_corpus_stats")
    op.drop_table("search_term_stats")
    for table in SEARCHABLE:
        op.drop_column(table, "search_terms")  # and its index
    op.execute("DROP FUNCTION inferra_bm25_terms(tsvector)")
    op.execute("DROP FUNCTION inferra_term_dim(text)")
