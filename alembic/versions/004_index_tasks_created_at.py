"""add index on tasks.created_at

Revision ID: 004_index_tasks_created_at
Revises: 003_add_tasks_table
Create Date: 2024-03-11 10:00:00.000000

"""
from typing import Sequence, Union

from alembic import op

# revision identifiers, used by Alembic.
revision: str = "004_index_tasks_created_at"
down_revision: Union[str, Sequence[str], None] = "003_add_tasks_table"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_index('ix_tasks_created_at', 'tasks', ['created_at'])


def downgrade() -> None:
    op.drop_index('ix_tasks_created_at', table_name='tasks')
