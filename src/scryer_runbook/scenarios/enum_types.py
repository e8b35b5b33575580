"""Reproduce steps for the enum-types runbook: a status ENUM on tasks, a second table sharing it, a new label.

Each step copies fixture files (``projects/enum-types/``: model versions, the revisions as autogenerate or a
hurried developer writes them, and as they work) into a throwaway copy of the Scryer project.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import psycopg

from scryer_runbook.i18n import _
from scryer_runbook.scenarios.migration_blocked import database_at

ENUM_FIXTURES = Path(__file__).parent / "projects" / "enum-types"


def use_models(project: Path, version: str) -> None:
    """Put version ``v1``/``v2``/``v3`` of the task model into a project copy, as a developer edits it."""
    target = Path(project) / "src" / "backend" / "app" / "models" / "task.py"
    shutil.copy(ENUM_FIXTURES / "models" / version / "task.py", target)
    print(_("models: task.py version {version}").format(version=version))


def use_revision(project: Path, name: str, variant: str) -> Path:
    """Put the ``broken`` or ``fixed`` variant of a revision into the copy's versions folder."""
    target = Path(project) / "alembic" / "versions" / f"{name}.py"
    shutil.copy(ENUM_FIXTURES / variant / f"{name}.py", target)
    return target


def remove_revision(project: Path, name: str) -> None:
    (Path(project) / "alembic" / "versions" / f"{name}.py").unlink()


def database_with_tasks(url: str, project: Path) -> None:
    """The database at 004 holding a user and two tasks, one of them waiting for review."""
    database_at(url, project, "004_index_tasks_created_at")
    with psycopg.connect(url) as conn:
        conn.execute(
            "INSERT INTO tasks (id, user_id, title) "
            "SELECT gen_random_uuid(), id, 'waiting for review' FROM users"
        )
