"""add users table, and do nothing when it is already there (raw SQL)

Revision ID: 002_add_users_table
Revises: 001_initial
Create Date: 2024-02-27 10:00:00.000000

The guide's DO block, corrected: to_regclass('public.users') asks about one schema, where
pg_tables WHERE tablename = 'users' matches a users table in any schema and would skip creating public.users.
The primary key's comment records that this revision created the table, so that downgrade() leaves a table that
was there before alone. tests/test_site.py runs it like idempotent_users_table.py.
"""
from typing import Sequence, Union

from alembic import op

# revision identifiers, used by Alembic.
revision: str = "002_add_users_table"
down_revision: Union[str, Sequence[str], None] = "001_initial"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


MARK = "created by 002_add_users_table"


def upgrade() -> None:
    op.execute(f"""
        DO $$
        BEGIN
            IF to_regclass('public.users') IS NULL THEN
                CREATE TABLE public.users (
                    id UUID NOT NULL,
                    username VARCHAR(50) NOT NULL,
                    email VARCHAR(100) NOT NULL,
                    is_active BOOLEAN,
                    PRIMARY KEY (id),
                    UNIQUE (email),
                    UNIQUE (username)
                );
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
