"""add users table, and do nothing when it is already there (raw SQL)

Revision ID: 002_add_users_table
Revises: 001_initial
Create Date: 2024-02-27 10:00:00.000000

The guide's DO block, corrected: to_regclass('public.users') asks about one schema, where
pg_tables WHERE tablename = 'users' matches a users table in any schema and would skip creating public.users.
tests/test_site.py runs it like idempotent_users_table.py.
"""
from typing import Sequence, Union

from alembic import op

# revision identifiers, used by Alembic.
revision: str = "002_add_users_table"
down_revision: Union[str, Sequence[str], None] = "001_initial"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.execute("""
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
            END IF;
        END $$;
    """)


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS public.users")
