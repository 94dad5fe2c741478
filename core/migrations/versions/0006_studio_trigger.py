"""run trigger `studio`: runs started from LangGraph Studio are agent runs like the others

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD_VALUES = ("auto", "manual", "replay", "fork")


def upgrade() -> None:
    op.execute("ALTER TYPE run_trigger ADD VALUE IF NOT EXISTS 'studio'")


def downgrade() -> None:
    # Postgres cannot drop an enum value: rebuild the type. Studio runs become manual ones (their
    # resolutions stay).
    op.execute("UPDATE agent_runs SET trigger = 'manual' WHERE trigger::text = 'studio'")
    op.execute("ALTER TYPE run_trigger RENAME TO run_trigger_old")
    values = ", ".join(f"'{value}'" for value in OLD_VALUES)
    op.execute(f"CREATE TYPE run_trigger AS ENUM ({values})")
    op.execute(
        "ALTER TABLE agent_runs ALTER COLUMN trigger TYPE run_trigger "
        "USING trigger::text::run_trigger"
    )
    op.execute("DROP TYPE run_trigger_old")
