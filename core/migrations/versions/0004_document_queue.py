"""queued documents: large uploads are ingested by the worker

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # The uploaded bytes wait here until the worker has ingested them (then they are cleared).
    op.add_column("documents", sa.Column("source", sa.LargeBinary()))
    op.add_column("documents", sa.Column("lease_until", sa.DateTime(timezone=True)))
    op.add_column(
        "documents", sa.Column("attempts", sa.Integer(), nullable=False, server_default="0")
    )
    op.create_index(
        "ix_documents_pending",
        "documents",
        ["created_at"],
        postgresql_where=sa.text("status IN ('queued', 'processing')"),
    )


def downgrade() -> None:
    op.drop_index("ix_documents_pending", table_name="documents")
    op.drop_column("documents", "attempts")
    op.drop_column("documents", "lease_until")
    op.drop_column("documents", "source")
