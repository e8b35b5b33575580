"""add task_archive

Revision ID: 006_add_task_archive
Revises: 005_add_tasks_status
Create Date: 2026-12-01 11:00:00.000000

The column reuses the type 005 created: postgresql.ENUM(..., create_type=False) never emits CREATE TYPE.
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "006_add_task_archive"
down_revision: Union[str, Sequence[str], None] = "005_add_tasks_status"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table(
        "task_archive",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("status", postgresql.ENUM(name="task_status", create_type=False), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )


def downgrade() -> None:
    op.drop_table("task_archive")  # the type stays: tasks.status still uses it (005 drops it)
