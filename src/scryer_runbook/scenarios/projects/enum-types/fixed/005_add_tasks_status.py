"""add tasks.status

Revision ID: 005_add_tasks_status
Revises: 004_index_tasks_created_at
Create Date: 2026-12-01 10:00:00.000000

The type is created explicitly (add_column does not create it) and only if missing; downgrade drops it again.
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "005_add_tasks_status"
down_revision: Union[str, Sequence[str], None] = "004_index_tasks_created_at"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

STATUS = postgresql.ENUM("todo", "done", name="task_status", create_type=False)


def upgrade() -> None:
    STATUS.create(op.get_bind(), checkfirst=True)
    op.add_column("tasks", sa.Column("status", STATUS, nullable=False, server_default="todo"))


def downgrade() -> None:
    op.drop_column("tasks", "status")
    STATUS.drop(op.get_bind(), checkfirst=True)
