"""add tasks.priority

A branch of the multiple-heads scenario: its parent, 004, is also the parent of the other branch.

Revision ID: 005_add_tasks_priority
Revises: 004_index_tasks_created_at
"""

import sqlalchemy as sa
from alembic import op

revision = "005_add_tasks_priority"
down_revision = "004_index_tasks_created_at"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("tasks", sa.Column("priority", sa.Integer()))


def downgrade() -> None:
    op.drop_column("tasks", "priority")
