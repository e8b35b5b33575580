"""Read-only facts about a database and an Alembic project, shared by the runbooks' Diagnose steps and the doctor.

"Read-only" is enforced by the server, not promised: every connection here runs with
``default_transaction_read_only=on`` and a read-only transaction, so an accidental write fails with
``cannot execute ... in a read-only transaction``.
"""

from __future__ import annotations

from pathlib import Path

import psycopg
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import MetaData, create_engine, pool

from scryer_runbook import urls
from scryer_runbook.project import REPO_ROOT

READ_ONLY_OPTIONS = "-c default_transaction_read_only=on"

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
    """A connection the server will not let write."""
    conn = psycopg.connect(urls.libpq(url), options=READ_ONLY_OPTIONS, connect_timeout=connect_timeout)
    conn.read_only = True
    return conn


def engine(url: str):
    """A SQLAlchemy engine whose sessions are read-only on the server side (for Alembic's comparisons)."""
    return create_engine(urls.sqlalchemy(url), poolclass=pool.NullPool,
                         connect_args={"options": READ_ONLY_OPTIONS, "connect_timeout": 5})


def schema_snapshot(conn: psycopg.Connection) -> list[tuple[str, str]]:
    return [row for row in conn.execute(SCHEMA_SNAPSHOT) if "alembic_version" not in row[1]]


def version_rows(conn: psycopg.Connection) -> list[str] | None:
    """The revisions recorded in ``alembic_version``; None when the table does not exist."""
    if conn.execute("SELECT to_regclass('public.alembic_version')").fetchone()[0] is None:
        return None
    return [row[0] for row in conn.execute("SELECT version_num FROM public.alembic_version ORDER BY 1")]


def app_tables(conn: psycopg.Connection) -> list[str]:
    """Tables in ``public`` other than Alembic's own."""
    return [row[0] for row in conn.execute(
        "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'alembic_version' ORDER BY 1")]


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


def drift(url: str, metadata: MetaData) -> list:
    """What `alembic check` would generate: the live schema against the models (compare_server_default on)."""
    eng = engine(url)
    try:
        with eng.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_server_default": True,
                                                             "target_metadata": metadata})
            return compare_metadata(context, metadata)
    finally:
        eng.dispose()


def matching_revision(url: str, sandbox, project: Path = REPO_ROOT) -> str | None:
    """The newest revision whose schema equals the live one, found by migrating scratch databases (never ``url``).

    This is what to `alembic stamp` when tables exist but the version table does not, instead of the guide's
    `stamp head`, which would silently skip every revision the live schema lacks.
    """
    from scryer_runbook.project import alembic  # noqa: PLC0415 - runs the real CLI

    with connect(url) as conn:
        live = schema_snapshot(conn)
    script = scripts(alembic_config(Path(project) / "alembic.ini"))
    for revision in script.walk_revisions():  # newest first
        scratch = sandbox.database("match")
        alembic("upgrade", revision.revision, url=scratch, project=project, check=True)
        with connect(scratch) as conn:
            if schema_snapshot(conn) == live:
                return revision.revision
    return None


# already-exists / multiple-heads runbooks -----------------------------------------------------------------------


def terse(result):
    """A CLI result as it reads best at 3 a.m.: traceback frames dropped, the exception lines kept.

    Object addresses (``<... at 0x7f...>`` in `alembic check` output) become ``0x…`` so that the same failure prints
    the same text on every run.
    """
    import re  # noqa: PLC0415 - used only here

    from scryer_runbook.project import Result  # noqa: PLC0415

    starts = ("Traceback (most recent call last):", "The above exception was", "During handling of the above exception")
    kept, frames = [], 0
    for line in result.output.splitlines():
        if line.startswith(starts) or (frames and (line.startswith(" ") or not line.strip())):
            frames += 1
            continue
        if frames:
            kept.append("[traceback omitted]")
            frames = 0
        kept.append(line)
    text = re.sub(r"\n\n(?=\[traceback omitted\])", "\n", "\n".join(kept))  # the blank line before a chained traceback
    text = re.sub(r" at 0x[0-9a-f]+", " at 0x…", text)
    return Result(result.args, result.returncode, text)


def next_revision_id(script: ScriptDirectory, message: str) -> str | None:
    """A revision id in the project's ``NNN_words`` style (``006_merge_branches``); None if it uses Alembic's random ids.

    Alembic's own ids are random, so a notebook's output would change on every run; this one stays put, and it fits
    ``alembic_version.version_num`` (varchar 32).
    """
    import re  # noqa: PLC0415

    numbers = [match[1] for rev in script.walk_revisions() if (match := re.match(r"(\d+)_", rev.revision))]
    if not numbers:
        return None
    latest = max(numbers, key=int)
    words = re.sub(r"[^a-z0-9]+", "_", message.lower()).strip("_")
    return f"{int(latest) + 1:0{len(latest)}d}_{words}"[:32]


def single_head_test(project: Path = REPO_ROOT) -> str | None:
    """pytest-alembic's ``test_single_head_revision`` (run by tests/test_migrations.py) on a project's scripts.

    Returns None when it passes, else its failure text. It reads the scripts only: no database is needed.
    """
    from pytest_alembic import runner  # noqa: PLC0415 - a test dependency, imported only when asked for
    from pytest_alembic.config import Config as TestConfig  # noqa: PLC0415
    from pytest_alembic.plugin.error import AlembicTestFailure  # noqa: PLC0415
    from pytest_alembic.tests import test_single_head_revision  # noqa: PLC0415

    with runner(TestConfig(config_options={"file": str(Path(project) / "alembic.ini")})) as alembic_runner:
        try:
            test_single_head_revision(alembic_runner)
        except AlembicTestFailure as failure:
            return str(failure)
    return None
