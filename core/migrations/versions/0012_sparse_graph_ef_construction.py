"""BM25 candidate graphs built with ef_construction 128 (pgvector's default is 64)

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03

The HNSW graphs on the BM25 sparse vectors (migration 0010) propose the full-text candidates.
Built with a wider search for each row's links (ef_construction 128 instead of 64), the graph
reaches more of a query's best rows at the same search width: at a million resolved tickets
the full-text top 30 agrees with the exact BM25 ranking 0.922 instead of 0.877, for a build
1.7 times as long and the same index size (benchmarks/README.md, "Thirteenth session"). The
scores do not change. Rebuilding the index reads the whole table: minutes at a million tickets.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SPARSE_GRAPHS = (
    "ix_tickets_search_terms_hnsw",
    "ix_ticket_comments_search_terms_hnsw",
    "ix_document_chunks_search_terms_hnsw",
)
EF_CONSTRUCTION = 128


def _rebuild(ef_construction: int) -> None:
    for index in SPARSE_GRAPHS:
        op.execute(f"ALTER INDEX {index} SET (ef_construction = {ef_construction})")
        op.execute(f"REINDEX INDEX {index}")


def upgrade() -> None:
    _rebuild(EF_CONSTRUCTION)


def downgrade() -> None:
    _rebuild(64)
