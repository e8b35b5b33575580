"""Reproduce steps for the database-ahead runbook: a release migrated the database, then its image was rolled back.

The project copy's history becomes a small git repository, as in real life: tag ``v1.4`` is the code deployed
again after the rollback (head ``004_index_tasks_created_at``); tag ``v1.5`` adds ``005_add_tasks_done`` (the
fixture file under ``projects/database-ahead``). The database was migrated by v1.5.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from sqlalchemy import create_engine, pool

from alembic import command
from scryer_runbook import urls
from scryer_runbook.diagnosis.ahead import export_commit, git
from scryer_runbook.diagnosis.core import alembic_config

__all__ = [
    "DEPLOYED_RELEASE",
    "NEWER_RELEASE",
    "release_history",
    "migrated_by_newer_release",
    "upgrade_in_process",
]

FIXTURES = Path(__file__).parent / "projects"
DEPLOYED_RELEASE, NEWER_RELEASE = "v1.4", "v1.5"
# A fixed author, date and config: the commit ids, and so the notebook's output, are the same on every run.
_GIT_ENV = {
    "GIT_AUTHOR_NAME": "Scryer release",
    "GIT_AUTHOR_EMAIL": "release@scryer.invalid",
    "GIT_COMMITTER_NAME": "Scryer release",
    "GIT_COMMITTER_EMAIL": "release@scryer.invalid",
    "GIT_AUTHOR_DATE": "2024-04-02T10:00:00Z",
    "GIT_COMMITTER_DATE": "2024-04-02T10:00:00Z",
    "GIT_CONFIG_GLOBAL": "/dev/null",
    "GIT_CONFIG_NOSYSTEM": "1",
}


def _release(project: Path, tag: str, message: str) -> None:
    git(project, "add", "--all", env=_GIT_ENV)
    git(project, "commit", "--quiet", "--message", message, env=_GIT_ENV)
    git(project, "tag", tag, env=_GIT_ENV)


def release_history(project: Path) -> Path:
    """Make the project copy ``project`` a git checkout with two releases, checked out at the older one (the
    rollback); returns it."""
    git(project, "init", "--quiet", "--initial-branch=main", env=_GIT_ENV)
    _release(project, DEPLOYED_RELEASE, f"release {DEPLOYED_RELEASE[1:]}")
    shutil.copytree(FIXTURES / "database-ahead", project, dirs_exist_ok=True)
    _release(project, NEWER_RELEASE, f"release {NEWER_RELEASE[1:]}: tasks.done")
    git(project, "checkout", "--quiet", DEPLOYED_RELEASE, env=_GIT_ENV)
    return project


def upgrade_in_process(url: str, project: Path, revision: str = "head") -> None:
    """`alembic upgrade REVISION` through Alembic's command API, in this process.

    For set-up steps the reader does not type: it saves the second an `alembic` process takes to start."""
    config = alembic_config(Path(project) / "alembic.ini")
    engine = create_engine(urls.sqlalchemy(url), poolclass=pool.NullPool)
    config.attributes["connection"] = engine  # env.py migrates through it instead of DATABASE_URL
    try:
        command.upgrade(config, revision)
    finally:
        engine.dispose()


def migrated_by_newer_release(url: str, project: Path) -> None:
    """What the v1.5 deploy did before the rollback: `alembic upgrade head` with v1.5's scripts."""
    with tempfile.TemporaryDirectory(prefix="scryer-v1.5-") as folder:
        upgrade_in_process(url, export_commit(project, NEWER_RELEASE, folder))
