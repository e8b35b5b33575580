"""add completed_at to tasks table

Revision ID: 005_add_completed_at_to_tasks_table
Revises: 004_index_tasks_created_at
Create Date: 2024-04-09 10:00:00.000000

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa

# revision identifiers, used by Alembic. The id has 35 characters: alembic_version.version_num holds 32.
revision: str = "005_add_completed_at_to_tasks_table"
down_revision: Union[str, Sequence[str], None] = "004_index_tasks_created_at"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.add_column('tasks', sa.Column('completed_at', sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    op.drop_column('tasks', 'completed_at')
