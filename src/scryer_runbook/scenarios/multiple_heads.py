"""Reproduce steps for the multiple-heads runbook: two revisions on one parent."""

from __future__ import annotations

from pathlib import Path

from scryer_runbook.project import alembic

BRANCHES = {  # two developers, one parent: each adds a column in a new revision
    "005_add_tasks_priority": ("add tasks.priority", "tasks", "priority"),
    "005_add_users_last_login": ("add users.last_login", "users", "last_login"),
}


def branch_scripts(project: Path, parent: str = "004_index_tasks_created_at") -> list[str]:
    """Create two revisions on the same parent in a throwaway project copy (never the repository's own)."""
    for rev_id, (message, table, column) in BRANCHES.items():
        # --splice: the second revision branches off a parent that is no longer a head, as a git merge would leave it
        alembic("revision", "-m", message, "--head", parent, "--splice", "--rev-id", rev_id, project=project,
                check=True)
        path = Path(project) / "alembic" / "versions" / f"{rev_id}.py"
        text = path.read_text()
        text = text.replace('"""Upgrade schema."""\n    pass',
                            f'"""Upgrade schema."""\n    op.add_column({table!r}, sa.Column({column!r}, sa.Integer()))')
        text = text.replace('"""Downgrade schema."""\n    pass',
                            f'"""Downgrade schema."""\n    op.drop_column({table!r}, {column!r})')
        path.write_text(text)
    return list(BRANCHES)
