"""add the blocked status

Revision ID: 007_add_blocked_status
Revises: 006_add_task_archive
Create Date: 2026-12-01 12:00:00.000000

The label is added in an autocommit block (committed at once, and allowed on servers before 12); the UPDATE that
uses it runs afterwards, in the revision's own transaction. IF NOT EXISTS makes a re-run harmless.
"""
from typing import Sequence, Union

from alembic import op

revision: str = "007_add_blocked_status"
down_revision: Union[str, Sequence[str], None] = "006_add_task_archive"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    with op.get_context().autocommit_block():
        op.execute("ALTER TYPE task_status ADD VALUE IF NOT EXISTS 'blocked'")
    op.execute("UPDATE tasks SET status = 'blocked' WHERE title = 'waiting for review'")


def downgrade() -> None:
    # PostgreSQL cannot drop a label: move the rows back; the label stays (harmless, and IF NOT EXISTS above)
    op.execute("UPDATE tasks SET status = 'todo' WHERE status = 'blocked'")
