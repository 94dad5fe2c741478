"""BM25 candidates from an HNSW graph built on cosine distance instead of inner product

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03

The scores do not change (BM25 is still the inner product of the row's `search_terms` with the
query's IDF vector, core/repositories/search.py); only the graph that proposes candidates does.
An HNSW graph on inner products links rows to the longest, heaviest rows (which have large inner
products with everything) and its greedy search strands more queries as the table grows; a graph
on cosine distance is a proper neighbourhood graph. Measured in benchmarks/README.md ("Ninth
session"). Rebuilding the index reads the whole table: minutes at a million tickets.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# As migration 0009: the rows full-text retrieval searches.
SEARCHED_ROWS = {
    "tickets": "accepted_resolution_id IS NOT NULL",
    "ticket_comments": "NOT internal",
    "document_chunks": None,
}


def _rebuild(ops: str) -> None:
    for table, rows in SEARCHED_ROWS.items():
        where = f" WHERE {rows}" if rows else ""
        op.execute(f"DROP INDEX ix_{table}_search_terms_hnsw")
        op.execute(
            f"CREATE INDEX ix_{table}_search_terms_hnsw ON {table}"
            f" USING hnsw (search_terms {ops}){where}"
        )


def upgrade() -> None:
    _rebuild("sparsevec_cosine_ops")


def downgrade() -> None:
    _rebuild("sparsevec_ip_ops")
