"""add tasks.priority

Revision ID: 005_add_tasks_priority
Revises: 004_index_tasks_created_at
Create Date: 2026-12-01 10:00:00.000000

An ordinary revision: ALTER TABLE ... ADD COLUMN needs an ACCESS EXCLUSIVE lock on tasks, however briefly.
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = "005_add_tasks_priority"
down_revision: Union[str, Sequence[str], None] = "004_index_tasks_created_at"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.add_column("tasks", sa.Column("priority", sa.Integer(), server_default="0", nullable=False))


def downgrade() -> None:
    op.drop_column("tasks", "priority")
