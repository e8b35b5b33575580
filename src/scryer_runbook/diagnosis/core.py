"""The read-only connection and the facts every check starts from: schema, version table, scripts, drift."""

from __future__ import annotations

from pathlib import Path

import psycopg
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, pool

from scryer_runbook import urls
from scryer_runbook.project import REPO_ROOT

READ_ONLY_OPTIONS = "-c default_transaction_read_only=on"
# A diagnostic query never queues behind a migration or a stuck session: it gives up and says so.
TIMEOUT_OPTIONS = "-c lock_timeout=1s -c statement_timeout=10s"

# The public schema as the catalog sees it; two databases with equal snapshots have the same tables, columns,
# defaults, indexes and constraints.
SCHEMA_SNAPSHOT = """
    SELECT 'column', table_name || '.' || column_name || ' ' || data_type || ' ' || is_nullable || ' '
           || coalesce(column_default, '') FROM information_schema.columns WHERE table_schema = 'public'
    UNION ALL SELECT 'index', indexdef FROM pg_indexes WHERE schemaname = 'public'
    UNION ALL SELECT 'constraint', conrelid::regclass || ' ' || pg_get_constraintdef(oid)
              FROM pg_constraint WHERE connamespace = 'public'::regnamespace
    ORDER BY 1, 2
"""


def connect(url: str, connect_timeout: int = 5) -> psycopg.Connection:
    """A connection the server will not let write, whose statements give up instead of waiting on a lock."""
    conn = psycopg.connect(
        urls.libpq(url), options=f"{READ_ONLY_OPTIONS} {TIMEOUT_OPTIONS}", connect_timeout=connect_timeout
    )
    conn.read_only = True
    return conn


def engine(url: str):
    """A SQLAlchemy engine whose sessions are read-only on the server side (for Alembic's comparisons)."""
    return create_engine(
        urls.sqlalchemy(url),
        poolclass=pool.NullPool,
        connect_args={"options": f"{READ_ONLY_OPTIONS} {TIMEOUT_OPTIONS}", "connect_timeout": 5},
    )


def schema_snapshot(conn: psycopg.Connection) -> list[tuple[str, str]]:
    return [row for row in conn.execute(SCHEMA_SNAPSHOT) if "alembic_version" not in row[1]]


def alembic_config(ini: str | Path = REPO_ROOT / "alembic.ini") -> Config:
    config = Config(str(ini))
    config.attributes["configure_logger"] = False
    return config


def scripts(config: Config) -> ScriptDirectory:
    return ScriptDirectory.from_config(config)


def pending_revisions(script: ScriptDirectory, current: list[str]) -> list[str]:
    """Revisions between the recorded ones and the heads, oldest first (raises if a recorded one is unknown)."""
    steps = []
    for head in script.get_heads():
        for revision in script.iterate_revisions(head, tuple(current) or "base"):
            if revision.revision not in current and revision.revision not in steps:
                steps.append(revision.revision)
    return list(reversed(steps))


# env.py's configure() options that change what `alembic check` compares.
DRIFT_OPTIONS = (
    "include_name",
    "include_object",
    "include_schemas",
    "compare_type",
    "compare_server_default",
    "version_table",
    "version_table_schema",
)


def drift(url: str, metadata, options: dict | None = None) -> list:
    """What `alembic check` would generate: the live schema against the models (Alembic's compare_metadata).

    ``metadata`` is a MetaData (or a list of them), or a ``Project`` (``diagnosis.load_project``), whose
    env.py options are then used. ``options`` are env.py's ``context.configure()`` options: its compare
    settings, include filters and version table are honoured. Without any, compare_server_default is on
    (Scryer's env.py setting).
    """
    if hasattr(metadata, "env_opts"):  # a Project
        metadata, options = metadata.metadata, metadata.env_opts if options is None else options
    if options is None:
        opts = {"compare_server_default": True}
    else:
        opts = {key: options[key] for key in DRIFT_OPTIONS if options.get(key) is not None}
    eng = engine(url)
    try:
        with eng.connect() as conn:
            context = MigrationContext.configure(conn, opts={**opts, "target_metadata": metadata})
            return compare_metadata(context, metadata)
    finally:
        eng.dispose()
