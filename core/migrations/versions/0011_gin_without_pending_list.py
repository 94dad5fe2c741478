"""Full-text GIN indexes without a pending list (fastupdate off)

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03

With fastupdate on, new rows' GIN entries wait in an unsorted pending list until a vacuum (or
4 MB of them) merges it, and every scan of the index reads the whole list. The BM25 candidate
query scans these indexes once per tsquery of the query's rare words and word pairs
(core/repositories/search.py, `gin_matches`), up to a few dozen times, so a list of a few
thousand rows costs more than the search itself. Inserts pay instead, a little: measured in
benchmarks/README.md ("Eleventh session").
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

GIN_INDEXES = ("ix_tickets_search_tsv", "ix_ticket_comments_tsv", "ix_document_chunks_tsv")


def upgrade() -> None:
    for index in GIN_INDEXES:
        op.execute(f"ALTER INDEX {index} SET (fastupdate = off)")
        op.execute(f"SELECT gin_clean_pending_list('{index}')")  # what waits in it already


def downgrade() -> None:
    for index in GIN_INDEXES:
        op.execute(f"ALTER INDEX {index} RESET (fastupdate)")
