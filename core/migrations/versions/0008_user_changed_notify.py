"""users: NOTIFY inferra_user_changed with each change, for the auth cache (core/user_cache.py)

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # NOTIFY is transactional: listeners hear of a change when (and only if) it commits.
    op.execute(
        """
        CREATE FUNCTION inferra_notify_user_changed() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_OP = 'TRUNCATE' THEN
                PERFORM pg_notify('inferra_user_changed', '*');
            ELSE
                PERFORM pg_notify('inferra_user_changed', OLD.id::text);
            END IF;
            RETURN NULL;
        END $$
        """
    )
    op.execute(
        "CREATE TRIGGER users_changed AFTER UPDATE OR DELETE ON users "
        "FOR EACH ROW EXECUTE FUNCTION inferra_notify_user_changed()"
    )
    op.execute(
        "CREATE TRIGGER users_truncated AFTER TRUNCATE ON users "
        "FOR EACH STATEMENT EXECUTE FUNCTION inferra_notify_user_changed()"
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER users_truncated ON users")
    op.execute("DROP TRIGGER users_changed ON users")
    op.execute("DROP FUNCTION inferra_notify_user_changed()")
