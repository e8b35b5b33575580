"""add users table, and do nothing when it is already there

Revision ID: 002_add_users_table
Revises: 001_initial
Create Date: 2024-02-27 10:00:00.000000

The site's example of an idempotent revision: alembic/versions/002_add_users_table.py with if_not_exists.
tests/test_site.py runs it on an empty database, on one that already has public.users, and on one where only
another schema has a users table, and checks that downgrade() drops only a table this revision created.
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa

# revision identifiers, used by Alembic.
revision: str = "002_add_users_table"
down_revision: Union[str, Sequence[str], None] = "001_initial"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


MARK = "created by 002_add_users_table"


def upgrade() -> None:
    # CREATE TABLE IF NOT EXISTS users (Alembic >= 1.13.3): PostgreSQL looks for users in the schema the table
    # would be created in, not in every schema.
    op.create_table(
        'users',
        sa.Column('id', sa.UUID(), nullable=False),
        sa.Column('username', sa.String(length=50), nullable=False),
        sa.Column('email', sa.String(length=100), nullable=False),
        sa.Column('is_active', sa.Boolean(), nullable=True),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('email'),
        sa.UniqueConstraint('username'),
        if_not_exists=True,
    )
    # Remember whether the line above created the table, for downgrade(): only then was the table's catalog row
    # written by this transaction (its xmin). The mark is a comment on the primary key, which autogenerate ignores.
    op.execute(f"""
        DO $$
        BEGIN
            IF (SELECT xmin = pg_current_xact_id()::xid FROM pg_class WHERE oid = 'public.users'::regclass) THEN
                COMMENT ON CONSTRAINT users_pkey ON public.users IS '{MARK}';
            END IF;
        END $$;
    """)


def downgrade() -> None:
    # Drop the table only if upgrade() created it: a users table that was there before stays, with its rows.
    op.execute(f"""
        DO $$
        BEGIN
            IF (SELECT obj_description(oid, 'pg_constraint') FROM pg_constraint
                WHERE conrelid = to_regclass('public.users') AND contype = 'p') = '{MARK}' THEN
                DROP TABLE public.users;
            END IF;
        END $$;
    """)
