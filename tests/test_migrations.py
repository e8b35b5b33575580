"""The Scryer migrations on a real server: pytest-alembic's checks plus the guide's own "测试迁移" steps."""

import concurrent.futures
import contextlib
import os
import re
import subprocess
import sys
import time
import zlib

import psycopg
import pytest
from alembic.config import Config as AlembicConfig
from pytest_alembic.config import Config
from pytest_alembic.tests import (  # noqa: F401 - collected as tests of this module
    test_model_definitions_match_ddl,
    test_single_head_revision,
    test_up_down_consistency,
    test_upgrade,
)

# test_downgrade_leaves_no_trace is left out: its WrappingConnection is not a Connection to SQLAlchemy 2.1's
# has_table() (ArgumentError); test_each_downgrade_leaves_no_trace below checks the same thing with catalog queries.
from pytest_alembic.tests.experimental import test_all_models_register_on_metadata  # noqa: F401
from sqlalchemy import create_engine

from alembic import command
from scryer_runbook import diagnosis, project, urls

HEAD = "004_index_tasks_created_at"
MIGRATION_LOCK_KEY = zlib.crc32(b"scryer:alembic") & 0x7FFFFFFF  # as in alembic/env.py
REVISIONS = ["001_initial", "002_add_users_table", "003_add_tasks_table", HEAD]


@pytest.fixture
def alembic_config():
    return Config(config_options={"file": str(project.REPO_ROOT / "alembic.ini")})


@pytest.fixture
def alembic_engine(empty_db):
    engine = create_engine(urls.sqlalchemy(empty_db))
    yield engine
    engine.dispose()


def version_rows(url):
    with psycopg.connect(url) as conn:
        return [row[0] for row in conn.execute("SELECT version_num FROM alembic_version")]


def schema_snapshot(url):
    with diagnosis.connect(url) as conn:
        return diagnosis.schema_snapshot(conn)


def test_each_downgrade_leaves_no_trace(empty_db, monkeypatch):
    """Every revision's downgrade() undoes its upgrade() exactly: the schema after up+down equals the one before."""
    monkeypatch.setenv("DATABASE_URL", empty_db)
    config = AlembicConfig(str(project.REPO_ROOT / "alembic.ini"))
    config.attributes["configure_logger"] = False
    previous = "base"
    for revision in REVISIONS:
        before = schema_snapshot(empty_db)
        command.upgrade(config, revision)
        command.downgrade(config, previous)
        assert schema_snapshot(empty_db) == before, revision
        command.upgrade(config, revision)
        previous = revision


def test_guide_round_trip(empty_db):
    """The guide's 测试迁移 sequence: upgrade head, downgrade base, upgrade head; then nothing left to generate."""
    for args in (["upgrade", "head"], ["downgrade", "base"], ["upgrade", "head"], ["check"]):
        result = project.alembic(*args, url=empty_db)
        assert result.returncode == 0, result.output
    assert version_rows(empty_db) == [HEAD]


def test_downgrade_to_named_revision(empty_db):
    """The downgrade example on the site names a revision that exists: tasks stays, its index goes."""
    project.alembic("upgrade", "head", url=empty_db, check=True)
    project.alembic("downgrade", "003_add_tasks_table", url=empty_db, check=True)
    with psycopg.connect(empty_db) as conn:
        assert conn.execute(
            "SELECT to_regclass('public.tasks'), to_regclass('public.ix_tasks_created_at')"
        ).fetchone() == ("tasks", None)


def test_offline_sql_needs_no_server(monkeypatch):
    """`alembic upgrade head --sql` renders every revision without DATABASE_URL or a server."""
    monkeypatch.delenv("DATABASE_URL")
    result = project.alembic("upgrade", "head", "--sql", url=None)
    assert result.returncode == 0, result.output
    assert (
        "CREATE TABLE users" in result.output
        and "CREATE INDEX CONCURRENTLY ix_tasks_created_at" in result.output
    )
    assert f"UPDATE alembic_version SET version_num='{HEAD}'" in result.output


def test_the_index_is_built_concurrently_outside_a_transaction(monkeypatch):
    """004 builds its index without blocking writes to tasks: CONCURRENTLY, which PostgreSQL refuses inside a
    transaction block, so between a COMMIT and the next BEGIN; a failed build's INVALID leftover is dropped first."""
    monkeypatch.delenv("DATABASE_URL")
    sql = project.alembic("upgrade", "003_add_tasks_table:head", "--sql", url=None).output
    sql = "\n".join(line for line in sql.splitlines() if not line.startswith(("INFO ", "-- ")))
    statements = [" ".join(statement.split()) for statement in sql.split(";") if statement.strip()]
    assert statements[:5] == [
        "BEGIN",
        "COMMIT",
        "DROP INDEX CONCURRENTLY IF EXISTS ix_tasks_created_at",
        "CREATE INDEX CONCURRENTLY ix_tasks_created_at ON tasks (created_at)",
        "BEGIN",
    ]
    down = project.alembic(
        "downgrade", "004_index_tasks_created_at:003_add_tasks_table", "--sql", url=None
    ).output
    assert re.search(r"COMMIT;\s+DROP INDEX CONCURRENTLY ix_tasks_created_at;\s+BEGIN;", down), down


def test_asyncpg_url_from_the_guide_runs_on_psycopg(empty_db):
    """The guide's `postgresql+asyncpg://` form works although asyncpg is not installed."""
    asyncpg_url = (
        urls.parse(empty_db).set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)
    )
    result = project.alembic("upgrade", "head", url=asyncpg_url)
    assert result.returncode == 0, result.output
    assert version_rows(empty_db) == [HEAD]


def test_url_from_dotenv_file(empty_db, tmp_path, monkeypatch):
    """Without DATABASE_URL in the environment, env.py reads it from .env in the working directory."""
    monkeypatch.delenv("DATABASE_URL")
    (tmp_path / ".env").write_text(f"DATABASE_URL={empty_db}\n")
    result = project.run(
        [
            project.sys.executable,
            "-m",
            "alembic",
            "-c",
            str(project.REPO_ROOT / "alembic.ini"),
            "upgrade",
            "head",
        ],
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.output
    assert version_rows(empty_db) == [HEAD]


def test_concurrent_upgrades_apply_each_revision_once(empty_db):
    """Containers starting together: 4 `alembic upgrade head` at once all succeed, each revision runs once."""
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: project.alembic("upgrade", "head", url=empty_db), range(4)))
    assert [r.returncode for r in results] == [0, 0, 0, 0], [r.output for r in results]
    ran = [step for r in results for step in re.findall(r"Running upgrade (\S*) ?-> (\w+)", r.output)]
    assert sorted(ran) == sorted(zip(["", *REVISIONS], REVISIONS, strict=False))
    assert version_rows(empty_db) == [HEAD]


@contextlib.contextmanager
def tasks_locked(url, mode="ACCESS EXCLUSIVE"):
    """Another session holds a lock on tasks, as an app's open transaction or a stuck job does."""
    with psycopg.connect(url) as holder:
        holder.execute(f"LOCK TABLE tasks IN {mode} MODE")
        yield holder


def wait_for_a_lock_wait(url, timeout=30):
    """Until some session of this database waits for a lock (the migration's first attempt)."""
    deadline = time.monotonic() + timeout
    with psycopg.connect(url, autocommit=True) as conn:
        while not conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND wait_event_type = 'Lock'"
        ).fetchone()[0]:
            assert time.monotonic() < deadline, "the migration never waited for a lock"
            time.sleep(0.02)


def tasks_indexes(url):
    with psycopg.connect(url) as conn:
        return conn.execute(
            "SELECT indexrelid::regclass::text, indisvalid FROM pg_index "
            "WHERE indrelid = 'tasks'::regclass ORDER BY 1"
        ).fetchall()


RETRIED = re.compile(
    r"a table lock was not granted within (\d+)ms; revision rolled back, attempt (\d+) of (\d+)"
)


@pytest.mark.slow  # lock waits, on purpose
@pytest.mark.parametrize("mode", ["ACCESS EXCLUSIVE", "ROW EXCLUSIVE"], ids=["lock-table", "open-insert"])
def test_a_revision_blocked_for_a_while_is_retried_and_applied(empty_db, mode):
    """The app holds tasks until 2 s after the migration began to wait (ROW EXCLUSIVE: an uncommitted INSERT,
    which lets CREATE INDEX CONCURRENTLY create its index, then time out waiting for that transaction, leaving an
    INVALID index). With the default limits the revision gives up after a short wait, is rolled back, retried
    with longer waits, and applied."""
    project.alembic("upgrade", "003_add_tasks_table", url=empty_db, check=True)
    with tasks_locked(empty_db, mode) as holder:
        migration = subprocess.Popen(
            [sys.executable, "-m", "alembic", "upgrade", "head"],
            cwd=project.REPO_ROOT,
            env={**os.environ, "DATABASE_URL": empty_db},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        wait_for_a_lock_wait(empty_db)
        time.sleep(2)
        holder.rollback()
        output = migration.communicate(timeout=60)[0]
    assert migration.returncode == 0, output
    retries = RETRIED.findall(output)
    assert retries and retries[0][:2] == ("100", "2"), output  # the first wait is the short default
    assert version_rows(empty_db) == [HEAD]
    assert tasks_indexes(empty_db) == [("ix_tasks_created_at", True), ("tasks_pkey", True)]


def test_a_revision_blocked_longer_than_every_attempt_fails_in_bounded_time(empty_db, monkeypatch):
    """Each attempt waits longer (100, 200, 400 ms here), then the migration fails with PostgreSQL's lock timeout
    error, and the blocked revision left nothing behind."""
    project.alembic("upgrade", "003_add_tasks_table", url=empty_db, check=True)
    for name, value in [
        ("TIMEOUT", "100ms"),
        ("TIMEOUT_MAX", "400ms"),
        ("ATTEMPTS", "3"),
        ("RETRY_PAUSE", "100ms"),
    ]:
        monkeypatch.setenv(f"MIGRATION_LOCK_{name}", value)
    with tasks_locked(empty_db):
        started = time.monotonic()
        result = project.alembic("upgrade", "head", url=empty_db)
        elapsed = time.monotonic() - started
    assert result.returncode != 0
    assert "canceling statement due to lock timeout" in result.output
    assert RETRIED.findall(result.output) == [("100", "2", "3"), ("200", "3", "3")], result.output
    # It waits 0.7 s and pauses 0.3 s in all; the rest is starting alembic (seconds on a busy machine).
    assert elapsed < 30, elapsed
    assert version_rows(empty_db) == ["003_add_tasks_table"]
    assert tasks_indexes(empty_db) == [("tasks_pkey", True)]


def test_a_bad_lock_setting_is_one_line(empty_db, monkeypatch):
    monkeypatch.setenv("MIGRATION_LOCK_TIMEOUT", "soon")
    result = project.alembic("upgrade", "head", url=empty_db)
    assert result.returncode != 0
    assert (
        "FAILED: MIGRATION_LOCK_TIMEOUT='soon' is not a duration such as 100ms, 2s or 5min" in result.output
    )
    assert "Traceback" not in result.output


@pytest.mark.parametrize("command", [["current"], ["check"], ["history", "-i"]])
def test_read_only_commands_answer_while_a_migration_holds_the_lock(head_db, command):
    """Diagnosis during a stuck migration: `alembic current` and `check` do not queue on the migration lock, and
    say that a session holds it."""
    with psycopg.connect(head_db) as holder:
        holder.execute(f"SELECT pg_advisory_lock({MIGRATION_LOCK_KEY})")
        started = time.monotonic()
        result = project.run([sys.executable, "-m", "alembic", *command], url=head_db, timeout=20)
        elapsed = time.monotonic() - started
        pid = holder.info.backend_pid
    assert result.returncode == 0, result.output
    assert elapsed < 30, elapsed  # queued, it would wait MIGRATION_ADVISORY_LOCK_WAIT (5 min) for the holder
    assert f"another session (pid {pid}) holds the migration lock" in result.output


def test_a_writer_gives_up_waiting_for_the_migration_lock_in_one_line(head_db, monkeypatch):
    monkeypatch.setenv("MIGRATION_ADVISORY_LOCK_WAIT", "300ms")
    with psycopg.connect(head_db) as holder:
        holder.execute(f"SELECT pg_advisory_lock({MIGRATION_LOCK_KEY})")
        result = project.alembic("downgrade", "003_add_tasks_table", url=head_db)
        pid = holder.info.backend_pid
    assert result.returncode != 0
    assert (
        f"FAILED: another session (pid {pid}) has held the migration lock for more than 300ms: a migration is "
        "running or stuck"
    ) in result.output
    assert version_rows(head_db) == [HEAD]
