"""index tasks.title without blocking writes

Revision ID: 005_index_tasks_title
Revises: 004_index_tasks_created_at
Create Date: 2024-04-16 10:00:00.000000

"""
from typing import Sequence, Union

from alembic import op

# revision identifiers, used by Alembic.
revision: str = "005_index_tasks_title"
down_revision: Union[str, Sequence[str], None] = "004_index_tasks_created_at"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    # autocommit_block() commits the revision's transaction and runs this outside any transaction.
    with op.get_context().autocommit_block():
        op.create_index('ix_tasks_title', 'tasks', ['title'], postgresql_concurrently=True)


def downgrade() -> None:
    with op.get_context().autocommit_block():
        op.drop_index('ix_tasks_title', table_name='tasks', postgresql_concurrently=True)
