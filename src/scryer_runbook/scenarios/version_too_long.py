"""Reproduce steps for the version-too-long runbook, and the fix: a revision of its own that widens version_num.

The broken project is the Scryer project plus one revision with a 35-character id (the fixture file under
``projects/version-too-long``).
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from alembic.script import ScriptDirectory

from scryer_runbook.scenarios.database_ahead import FIXTURES, upgrade_in_process

__all__ = ["LONG_REVISION", "WIDE", "add_long_revision", "widening_revision", "insert_widening_revision"]

LONG_REVISION = "005_add_completed_at_to_tasks_table"
WIDE = 255  # room for any descriptive id

_WIDENING = '''"""widen alembic_version.version_num to varchar({width})

Revision ID: {revision}
Revises: {parent}

Revision ids longer than 32 characters do not fit the varchar(32) column Alembic creates; this revision runs (and,
with transaction_per_migration, commits) before the first long id is written.
"""
from alembic import op
import sqlalchemy as sa

revision = "{revision}"
down_revision = "{parent}"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.alter_column("alembic_version", "version_num", type_=sa.String({width}), existing_type=sa.String(32),
                    existing_nullable=False)


def downgrade() -> None:
    op.alter_column("alembic_version", "version_num", type_=sa.String(32), existing_type=sa.String({width}),
                    existing_nullable=False)
'''


def add_long_revision(project: Path, url: str) -> None:
    """Give the project copy ``project`` a revision whose id is longer than 32 characters, with ``url``'s database
    at the revision before it (the state production was in before the deploy)."""
    shutil.copytree(FIXTURES / "version-too-long", project, dirs_exist_ok=True)
    upgrade_in_process(url, project, "004_index_tasks_created_at")


def widening_revision(long_revision: str, script: ScriptDirectory, width: int = WIDE) -> tuple[str, str, str]:
    """(id, parent, file text) of the revision that widens version_num, to go just before ``long_revision``.

    Its id reuses the long revision's number (``005_widen_version_num``) and fits 32 characters itself."""
    parent = script.get_revision(long_revision).down_revision
    if not isinstance(parent, str):
        raise ValueError(
            f"{long_revision} has {'no parent' if parent is None else 'several parents'}: "
            "put the widening revision before it by hand"
        )
    number = re.match(r"\d+_", long_revision)
    revision = f"{number[0] if number else ''}widen_version_num"
    return revision, parent, _WIDENING.format(revision=revision, parent=parent, width=width)


def insert_widening_revision(script: ScriptDirectory, long_revision: str, width: int = WIDE) -> Path:
    """Write the widening revision into the scripts' versions folder and make ``long_revision`` follow it; returns
    the new file."""
    revision, parent, text = widening_revision(long_revision, script, width)
    long_file = Path(script.get_revision(long_revision).path)
    source = long_file.read_text()
    assignment = re.compile(rf"^(down_revision\b[^=\n]*=\s*)(['\"]){re.escape(parent)}\2", re.M)
    if not assignment.search(source):
        raise ValueError(f'no `down_revision = "{parent}"` line in {long_file.name}')
    path = Path(script.versions) / f"{revision}.py"
    path.write_text(text)
    source = re.sub(rf"^Revises: {re.escape(parent)}$", f"Revises: {revision}", source, count=1, flags=re.M)
    long_file.write_text(assignment.sub(rf'\g<1>"{revision}"', source, count=1))
    return path
