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
    # A plain CREATE INDEX blocks every write to tasks until it ends. CONCURRENTLY lets writes go on, but cannot
    # run inside a transaction: autocommit_block() commits this revision's transaction and runs it outside.
    with op.get_context().autocommit_block():
        # A CONCURRENTLY build that failed (lock timeout, statement timeout, cancel) leaves an INVALID index of
        # this name behind; at revision 003 no valid one can exist, so drop it and the revision can be retried.
        op.drop_index('ix_tasks_created_at', table_name='tasks', postgresql_concurrently=True, if_exists=True)
        op.create_index('ix_tasks_created_at', 'tasks', ['created_at'], postgresql_concurrently=True)


def downgrade() -> None:
    with op.get_context().autocommit_block():
        op.drop_index('ix_tasks_created_at', table_name='tasks', postgresql_concurrently=True)
