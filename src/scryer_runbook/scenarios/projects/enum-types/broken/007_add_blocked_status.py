"""add the blocked status

Revision ID: 007_add_blocked_status
Revises: 006_add_task_archive
Create Date: 2026-12-01 12:00:00.000000

Adds the label and uses it in the same transaction: PostgreSQL 12+ refuses the second statement.
"""
from typing import Sequence, Union

from alembic import op

revision: str = "007_add_blocked_status"
down_revision: Union[str, Sequence[str], None] = "006_add_task_archive"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.execute("ALTER TYPE task_status ADD VALUE 'blocked'")
    op.execute("UPDATE tasks SET status = 'blocked' WHERE title = 'waiting for review'")


def downgrade() -> None:
    pass  # PostgreSQL cannot drop a label from an enum type
