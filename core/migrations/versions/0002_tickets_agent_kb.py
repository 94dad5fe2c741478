"""tickets, comments, resolutions, agent runs, KB documents and chunks, meta

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28

The embedding dimension is fixed here, per database, from the configured embedding provider
(384 for the local model, 768 for Nomic) and recorded in inferra_meta; the app refuses to start
when the provider's dimension differs.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import context, op
from pgvector.sqlalchemy import Vector
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ENUMS = {
    "ticket_category": (
        "access_accounts",
        "network_vpn",
        "email",
        "hardware",
        "software_install",
        "os",
        "printing",
        "security",
        "other",
    ),
    "ticket_priority": ("low", "medium", "high", "critical"),
    "ticket_status": ("open", "in_progress", "resolved", "closed", "escalated"),
    "run_status": ("queued", "running", "interrupted", "succeeded", "failed"),
    "run_trigger": ("auto", "manual", "replay", "fork"),
}


def _enum(name: str) -> postgresql.ENUM:
    return postgresql.ENUM(*ENUMS[name], name=name, create_type=False)


def _embedding_dim() -> int:
    dim = context.config.attributes.get("embedding_dim")
    if dim is None:
        from core.providers.embeddings import embedding_dimension
        from core.settings import get_settings

        dim = embedding_dimension(get_settings())
    return int(dim)


def _created_at() -> sa.Column:
    return sa.Column(
        "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
    )


def _tsv(name: str, expression: str) -> sa.Column:
    return sa.Column(name, postgresql.TSVECTOR(), sa.Computed(expression, persisted=True))


def upgrade() -> None:
    dim = _embedding_dim()
    bind = op.get_bind()
    for name in ENUMS:
        _enum(name).create(bind, checkfirst=True)

    op.create_table(
        "inferra_meta",
        sa.Column("key", sa.String(100), primary_key=True),
        sa.Column("value", sa.Text(), nullable=False),
    )
    op.execute(
        sa.text("INSERT INTO inferra_meta (key, value) VALUES ('embedding_dim', :dim)").bindparams(
            dim=str(dim)
        )
    )

    op.create_table(
        "tickets",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("owner_id", sa.Uuid(), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("category_hint", _enum("ticket_category")),
        sa.Column("category", _enum("ticket_category")),
        sa.Column("priority", _enum("ticket_priority"), nullable=False, server_default="medium"),
        sa.Column("status", _enum("ticket_status"), nullable=False, server_default="open"),
        sa.Column("assignee_id", sa.Uuid(), sa.ForeignKey("users.id")),
        sa.Column("accepted_resolution_id", sa.Uuid()),
        sa.Column("resolution_text", sa.Text()),
        sa.Column("embedding", Vector(dim)),
        _tsv(
            "search_tsv",
            "to_tsvector('english', coalesce(title, '') || ' ' || coalesce(description, '')"
            " || ' ' || coalesce(resolution_text, ''))",
        ),
        _created_at(),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
    )
    op.create_index("ix_tickets_owner_created", "tickets", ["owner_id", "created_at"])
    op.create_index("ix_tickets_status", "tickets", ["status"])
    op.create_index("ix_tickets_created_at", "tickets", ["created_at"])

    op.create_table(
        "ticket_comments",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column(
            "ticket_id", sa.Uuid(), sa.ForeignKey("tickets.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("author_id", sa.Uuid(), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("internal", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("embedding", Vector(dim)),
        _tsv("tsv", "to_tsvector('english', body)"),
        _created_at(),
    )
    op.create_index("ix_ticket_comments_ticket_id", "ticket_comments", ["ticket_id"])

    op.create_table(
        "agent_runs",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column(
            "ticket_id", sa.Uuid(), sa.ForeignKey("tickets.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("status", _enum("run_status"), nullable=False, server_default="queued"),
        sa.Column("trigger", _enum("run_trigger"), nullable=False),
        sa.Column("requested_by", sa.Uuid(), sa.ForeignKey("users.id")),
        sa.Column("parent_run_id", sa.Uuid(), sa.ForeignKey("agent_runs.id")),
        sa.Column("parent_checkpoint_id", sa.String(100)),
        sa.Column("model", sa.String(100)),
        sa.Column("error", sa.Text()),
        sa.Column("skipped_steps", postgresql.JSONB(), nullable=False, server_default="[]"),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("lease_until", sa.DateTime(timezone=True)),
        sa.Column("worker_id", sa.String(100)),
        _created_at(),
        sa.Column("started_at", sa.DateTime(timezone=True)),
        sa.Column("finished_at", sa.DateTime(timezone=True)),
    )
    op.create_index("ix_agent_runs_ticket_id", "agent_runs", ["ticket_id"])
    # The worker's claim query scans only runnable rows.
    op.create_index(
        "ix_agent_runs_runnable",
        "agent_runs",
        ["created_at"],
        postgresql_where=sa.text("status IN ('queued', 'running')"),
    )

    op.create_table(
        "resolutions",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column(
            "ticket_id", sa.Uuid(), sa.ForeignKey("tickets.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column(
            "run_id", sa.Uuid(), sa.ForeignKey("agent_runs.id", ondelete="SET NULL"), unique=True
        ),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("diagnoses", postgresql.JSONB(), nullable=False, server_default="[]"),
        sa.Column("solutions", postgresql.JSONB(), nullable=False, server_default="[]"),
        sa.Column("sources", postgresql.JSONB(), nullable=False, server_default="[]"),
        sa.Column("confidence", sa.Float(), nullable=False),
        sa.Column("model", sa.String(100), nullable=False),
        sa.Column("accepted_at", sa.DateTime(timezone=True)),
        _created_at(),
        sa.UniqueConstraint("ticket_id", "version", name="uq_resolutions_ticket_version"),
    )
    op.create_index("ix_resolutions_ticket_id", "resolutions", ["ticket_id"])
    op.create_foreign_key(
        "fk_tickets_accepted_resolution_id_resolutions",
        "tickets",
        "resolutions",
        ["accepted_resolution_id"],
        ["id"],
        ondelete="SET NULL",
    )

    op.create_table(
        "documents",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("filename", sa.String(255), nullable=False),
        sa.Column("mime", sa.String(100), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False, unique=True),
        sa.Column("title", sa.String(500)),
        sa.Column("status", sa.String(20), nullable=False, server_default="ready"),
        sa.Column("pages", sa.Integer()),
        sa.Column("error", sa.Text()),
        sa.Column("uploaded_by", sa.Uuid(), sa.ForeignKey("users.id")),
        _created_at(),
    )
    op.create_index("ix_documents_filename", "documents", ["filename"])
    op.create_table(
        "document_chunks",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column(
            "document_id",
            sa.Uuid(),
            sa.ForeignKey("documents.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("ordinal", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("heading_path", sa.Text()),
        sa.Column("page", sa.Integer()),
        sa.Column("embedding", Vector(dim)),
        _tsv("tsv", "to_tsvector('english', coalesce(heading_path, '') || ' ' || text)"),
    )
    op.create_index("ix_document_chunks_document_id", "document_chunks", ["document_id"])

    for table in ("tickets", "ticket_comments", "document_chunks"):
        op.execute(
            f"CREATE INDEX ix_{table}_embedding_hnsw ON {table} "
            "USING hnsw (embedding vector_cosine_ops)"
        )
    op.create_index("ix_tickets_search_tsv", "tickets", ["search_tsv"], postgresql_using="gin")
    for table in ("ticket_comments", "document_chunks"):
        op.create_index(f"ix_{table}_tsv", table, ["tsv"], postgresql_using="gin")


def downgrade() -> None:
    op.drop_constraint("fk_tickets_accepted_resolution_id_resolutions", "tickets")
    for table in (
        "document_chunks",
        "documents",
        "resolutions",
        "agent_runs",
        "ticket_comments",
        "tickets",
        "inferra_meta",
    ):
        op.drop_table(table)
    bind = op.get_bind()
    for name in reversed(list(ENUMS)):
        _enum(name).drop(bind, checkfirst=True)
