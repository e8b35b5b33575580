"""Reproduce steps for the concurrent-index runbook: a concurrent index build inside a revision's transaction, then,
once moved into ``autocommit_block()``, a build cancelled behind a writer's open transaction (an INVALID index)
and retried by env.py onto it."""

from __future__ import annotations

import contextlib
import shutil
from pathlib import Path

import psycopg

from scryer_runbook.project import AlembicProject, Result, alembic
from scryer_runbook.scenarios.database_ahead import FIXTURES, upgrade_in_process

__all__ = [
    "INDEX",
    "add_concurrent_index_revision",
    "use_autocommit_block",
    "writer_transaction",
    "build_behind_a_writer",
    "vacuum_in_a_transaction",
]

INDEX = "ix_tasks_title"


def add_concurrent_index_revision(project: Path, url: str) -> None:
    """Give the project copy ``project`` a revision 005 that builds an index CONCURRENTLY inside its transaction,
    with ``url``'s database at 004 (the state before the deploy)."""
    shutil.copytree(FIXTURES / "concurrent-index", project, dirs_exist_ok=True)
    upgrade_in_process(url, project, "004_index_tasks_created_at")


def use_autocommit_block(project: Path) -> Path:
    """The code fix: revision 005 with its concurrent statements inside ``autocommit_block()``; returns the file."""
    shutil.copytree(FIXTURES / "concurrent-index-fixed", project, dirs_exist_ok=True)
    return Path(project) / "alembic" / "versions" / "005_index_tasks_title.py"


@contextlib.contextmanager
def writer_transaction(url: str):
    """An application transaction that wrote a task and has not committed yet (a slow request, a stuck worker)."""
    with psycopg.connect(url) as conn:
        conn.execute("""WITH u AS (INSERT INTO users (id, username, email)
                                   VALUES (gen_random_uuid(), 'writer', 'writer@example.com') RETURNING id)
                        INSERT INTO tasks (id, user_id, title) SELECT gen_random_uuid(), id, 'slow request' FROM u""")
        try:
            yield conn
        finally:
            conn.rollback()


def build_behind_a_writer(url: str, project: Path | AlembicProject) -> Result:
    """`alembic upgrade head` while a writer's transaction is open: the concurrent build waits for it until env.py's
    short lock_timeout cancels it, leaving the index INVALID; env.py's lock retries then run the revision again,
    and the retry fails on the invalid index's name."""
    with writer_transaction(url):
        return alembic("upgrade", "head", url=url, project=project)


def vacuum_in_a_transaction(url: str) -> str:
    """What ``op.execute("VACUUM ANALYZE tasks")`` meets in a revision's transaction: PostgreSQL's error text."""
    with psycopg.connect(url) as conn:
        try:
            conn.execute("VACUUM ANALYZE tasks")
        except psycopg.errors.ActiveSqlTransaction as error:
            return f"psycopg.errors.ActiveSqlTransaction: {error}"
    raise AssertionError("VACUUM ran inside a transaction block")
