"""fork patches on runs, feedback on resolutions

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

verdict = postgresql.ENUM("helpful", "not_helpful", name="feedback_verdict", create_type=False)
reason = postgresql.ENUM(
    "incorrect",
    "incomplete",
    "outdated",
    "irrelevant",
    "other",
    name="feedback_reason",
    create_type=False,
)


def upgrade() -> None:
    bind = op.get_bind()
    verdict.create(bind, checkfirst=True)
    reason.create(bind, checkfirst=True)
    op.add_column("agent_runs", sa.Column("state_patch", postgresql.JSONB()))
    op.create_table(
        "feedback",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column(
            "resolution_id",
            sa.Uuid(),
            sa.ForeignKey("resolutions.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("user_id", sa.Uuid(), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("verdict", verdict, nullable=False),
        sa.Column("reason", reason),
        sa.Column("comment", sa.Text()),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.UniqueConstraint("resolution_id", "user_id", name="uq_feedback_resolution_user"),
    )
    op.create_index("ix_feedback_created_at", "feedback", ["created_at"])


def downgrade() -> None:
    op.drop_table("feedback")
    op.drop_column("agent_runs", "state_patch")
    bind = op.get_bind()
    reason.drop(bind, checkfirst=True)
    verdict.drop(bind, checkfirst=True)
