"""add tasks.done

Revision ID: 005_add_tasks_done
Revises: 004_index_tasks_created_at
Create Date: 2024-04-02 10:00:00.000000

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa

# revision identifiers, used by Alembic.
revision: str = "005_add_tasks_done"
down_revision: Union[str, Sequence[str], None] = "004_index_tasks_created_at"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    # A server default: the previous release, which knows nothing of this column, can still insert tasks.
    op.add_column('tasks', sa.Column('done', sa.Boolean(), server_default=sa.false(), nullable=False))


def downgrade() -> None:
    op.drop_column('tasks', 'done')
