"""job queue on procrastinate: its schema, and the hand-made queue columns dropped

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01

Runs and background ingests are procrastinate jobs (see services/jobs.py). Its schema comes
from the installed package, which pyproject pins exactly: a procrastinate upgrade needs a new
revision that applies the package's SQL migrations between the two versions.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from procrastinate.schema import SchemaManager
from sqlalchemy.dialects.postgresql import JSONB

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Simple-query protocol (no parameters): the schema is many statements with literal %.
    op.get_bind().connection.driver_connection.execute(SchemaManager.get_schema())
    op.drop_index("ix_documents_pending", table_name="documents")
    op.drop_column("documents", "lease_until")
    op.drop_column("documents", "attempts")
    op.drop_column("agent_runs", "lease_until")
    # worker_id now holds the token of the attempt that owns the run (fencing).
    op.alter_column("agent_runs", "worker_id", new_column_name="attempt_token")
    op.add_column("agent_runs", sa.Column("job_id", sa.BigInteger()))
    # A staff decision on a handed-off run, waiting for a worker to apply it.
    op.add_column("agent_runs", sa.Column("pending_decision", JSONB()))
    op.create_index(
        "ix_agent_runs_queued_by_requester",
        "agent_runs",
        ["requested_by"],
        postgresql_where=sa.text("status = 'queued'"),
    )


def downgrade() -> None:
    op.drop_index("ix_agent_runs_queued_by_requester", table_name="agent_runs")
    op.drop_column("agent_runs", "pending_decision")
    op.drop_column("agent_runs", "job_id")
    op.alter_column("agent_runs", "attempt_token", new_column_name="worker_id")
    op.add_column("agent_runs", sa.Column("lease_until", sa.DateTime(timezone=True)))
    op.add_column(
        "documents", sa.Column("attempts", sa.Integer(), nullable=False, server_default="0")
    )
    op.add_column("documents", sa.Column("lease_until", sa.DateTime(timezone=True)))
    op.create_index(
        "ix_documents_pending",
        "documents",
        ["created_at"],
        postgresql_where=sa.text("status IN ('queued', 'processing')"),
    )
    _drop_procrastinate()


def _drop_procrastinate() -> None:
    """procrastinate ships no uninstall script: drop every object it created by name."""
    op.execute(
        """
        DO $$
        DECLARE r record;
        BEGIN
            FOR r IN SELECT tablename FROM pg_tables
                      WHERE schemaname = current_schema() AND tablename LIKE 'procrastinate%'
            LOOP EXECUTE format('DROP TABLE IF EXISTS %I CASCADE', r.tablename); END LOOP;
            FOR r IN SELECT p.oid::regprocedure AS sig FROM pg_proc p
                       JOIN pg_namespace n ON n.oid = p.pronamespace
                      WHERE n.nspname = current_schema() AND p.proname LIKE 'procrastinate%'
            LOOP EXECUTE format('DROP ROUTINE IF EXISTS %s CASCADE', r.sig); END LOOP;
            FOR r IN SELECT t.typname FROM pg_type t
                       JOIN pg_namespace n ON n.oid = t.typnamespace
                      WHERE n.nspname = current_schema() AND t.typname LIKE 'procrastinate%'
                        AND t.typtype IN ('e', 'c')
            LOOP EXECUTE format('DROP TYPE IF EXISTS %I CASCADE', r.typname); END LOOP;
        END $$;
        """
    )
