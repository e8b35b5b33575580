"""add users.last_login

A branch of the multiple-heads scenario: its parent, 004, is also the parent of the other branch.

Revision ID: 005_add_users_last_login
Revises: 004_index_tasks_created_at
"""

import sqlalchemy as sa
from alembic import op

revision = "005_add_users_last_login"
down_revision = "004_index_tasks_created_at"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("users", sa.Column("last_login", sa.Integer()))


def downgrade() -> None:
    op.drop_column("users", "last_login")
