"""drop users.is_active, keeping a restorable copy of the rows

Revision ID: 005_drop_users_is_active
Revises: 004_index_tasks_created_at
Create Date: 2024-03-18 10:00:00.000000

The site's example of a migration that deletes data and can still be rolled back. tests/test_site.py runs it on
top of this repository's revisions: upgrade, check the copy, downgrade, check the values are back.
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa

# revision identifiers, used by Alembic.
revision: str = "005_drop_users_is_active"
down_revision: Union[str, Sequence[str], None] = "004_index_tasks_created_at"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

COLUMNS = "id, username, email, is_active"


def upgrade() -> None:
    # LIKE ... INCLUDING ALL copies NOT NULL, defaults, identity, the primary key, unique constraints and indexes;
    # CREATE TABLE ... AS SELECT copies none of them.
    op.execute("CREATE TABLE users_backup (LIKE users INCLUDING ALL)")
    # Name the columns: INSERT ... SELECT * pairs columns by position, not by name.
    op.execute(f"INSERT INTO users_backup ({COLUMNS}) SELECT {COLUMNS} FROM users")
    op.drop_column('users', 'is_active')


def downgrade() -> None:
    op.add_column('users', sa.Column('is_active', sa.Boolean(), nullable=True))
    op.execute("UPDATE users SET is_active = b.is_active FROM users_backup AS b WHERE b.id = users.id")
    op.drop_table('users_backup')
