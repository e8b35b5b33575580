"""Reproduce steps for the already-exists runbook: tables that Alembic did not create."""

from __future__ import annotations

import sys

import psycopg
from sqlalchemy import create_engine, pool

from scryer_runbook import project as projects
from scryer_runbook import urls
from scryer_runbook.project import alembic


def create_tables_outside_alembic(url: str) -> None:
    """The usual root cause: the app (or a script) ran ``Base.metadata.create_all()``; no alembic_version."""
    if (
        str(projects.REPO_ROOT) not in sys.path
    ):  # the models are `src.backend...`; a kernel runs in notebooks/
        sys.path.insert(0, str(projects.REPO_ROOT))
    from src.backend.app.models import Base  # noqa: PLC0415

    engine = create_engine(urls.sqlalchemy(url), poolclass=pool.NullPool)
    try:
        # scryer-lint: disable=create-all reason: reproduces the already-exists incident on a scratch database
        Base.metadata.create_all(engine)
    finally:
        engine.dispose()


def schema_at_revision_without_version(url: str, revision: str) -> None:
    """The partial case: the live schema matches an older revision, but nothing records which one."""
    alembic("upgrade", revision, url=url, check=True)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DROP TABLE alembic_version")
