"""The Scryer migrations on a real server: pytest-alembic's checks plus the guide's own "测试迁移" steps."""

import concurrent.futures
import re

import psycopg
import pytest
from alembic import command
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

from scryer_runbook import diagnosis, project, urls

HEAD = "004_index_tasks_created_at"
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
        assert conn.execute("SELECT to_regclass('public.tasks'), to_regclass('public.ix_tasks_created_at')"
                            ).fetchone() == ("tasks", None)


def test_offline_sql_needs_no_server(monkeypatch):
    """`alembic upgrade head --sql` renders every revision without DATABASE_URL or a server."""
    monkeypatch.delenv("DATABASE_URL")
    result = project.alembic("upgrade", "head", "--sql", url=None)
    assert result.returncode == 0, result.output
    assert "CREATE TABLE users" in result.output and "CREATE INDEX ix_tasks_created_at" in result.output
    assert f"UPDATE alembic_version SET version_num='{HEAD}'" in result.output


def test_asyncpg_url_from_the_guide_runs_on_psycopg(empty_db):
    """The guide's `postgresql+asyncpg://` form works although asyncpg is not installed."""
    asyncpg_url = urls.parse(empty_db).set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)
    result = project.alembic("upgrade", "head", url=asyncpg_url)
    assert result.returncode == 0, result.output
    assert version_rows(empty_db) == [HEAD]


def test_url_from_dotenv_file(empty_db, tmp_path, monkeypatch):
    """Without DATABASE_URL in the environment, env.py reads it from .env in the working directory."""
    monkeypatch.delenv("DATABASE_URL")
    (tmp_path / ".env").write_text(f"DATABASE_URL={empty_db}\n")
    result = project.run([project.sys.executable, "-m", "alembic", "-c", str(project.REPO_ROOT / "alembic.ini"),
                          "upgrade", "head"], cwd=tmp_path)
    assert result.returncode == 0, result.output
    assert version_rows(empty_db) == [HEAD]


def test_concurrent_upgrades_apply_each_revision_once(empty_db):
    """Containers starting together: 4 `alembic upgrade head` at once all succeed, each revision runs once."""
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: project.alembic("upgrade", "head", url=empty_db), range(4)))
    assert [r.returncode for r in results] == [0, 0, 0, 0], [r.output for r in results]
    ran = [step for r in results for step in re.findall(r"Running upgrade (\S*) ?-> (\w+)", r.output)]
    assert sorted(ran) == sorted(zip(["", *REVISIONS], REVISIONS))
    assert version_rows(empty_db) == [HEAD]


def test_lock_timeout_stops_a_migration_stuck_behind_a_busy_table(empty_db, monkeypatch):
    """A migration waiting on a table the app holds gives up after MIGRATION_LOCK_TIMEOUT instead of queueing traffic."""
    project.alembic("upgrade", "002_add_users_table", url=empty_db, check=True)
    monkeypatch.setenv("MIGRATION_LOCK_TIMEOUT", "200ms")
    with psycopg.connect(empty_db) as busy:
        busy.execute("LOCK TABLE users IN ACCESS EXCLUSIVE MODE")  # held until this block ends
        result = project.alembic("upgrade", "head", url=empty_db)
    assert result.returncode != 0
    assert "canceling statement due to lock timeout" in result.output
    assert version_rows(empty_db) == ["002_add_users_table"]
