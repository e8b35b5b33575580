"""initial: the empty baseline every Scryer database starts from

Revision ID: 001_initial
Revises:
Create Date: 2024-02-26 09:00:00.000000

"""
from typing import Sequence, Union

# revision identifiers, used by Alembic.
revision: str = "001_initial"
down_revision: Union[str, Sequence[str], None] = None
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Nothing to create: this revision marks the starting point, so `alembic stamp 001_initial` has a target."""


def downgrade() -> None:
    """Nothing to drop."""
