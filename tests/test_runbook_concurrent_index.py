"""The concurrent-index runbook: its read-only checks, and the notebook pointed at a database a cancelled concurrent
build left with an INVALID index.

Incident mode without apply_fix changes nothing; with it, the invalid index (and only one not being built) is
dropped, after which the deploy's `alembic upgrade head` goes through.
"""

import threading

import psycopg
import pytest
from incident_support import run_incident

from scryer_runbook import diagnosis, scenarios
from scryer_runbook.notebooks import NOTEBOOKS
from scryer_runbook.project import alembic, copy_project

NOTEBOOK = NOTEBOOKS / "concurrent-index.zh.ipynb"
BEFORE, AFTER, INDEX = "004_index_tasks_created_at", "005_index_tasks_title", scenarios.INDEX


def outputs(nb) -> str:
    return "\n".join(
        output.get("text", "") for cell in nb.cells if cell.cell_type == "code" for output in cell.outputs
    )


def state(url):
    with diagnosis.connect(url) as conn:
        return (
            diagnosis.schema_snapshot(conn),
            diagnosis.version_rows(conn),
            diagnosis.invalid_index_details(conn),
        )


def script_of(project):
    return diagnosis.scripts(diagnosis.alembic_config(project / "alembic.ini"))


@pytest.fixture
def project(empty_db, tmp_path):
    """A project copy whose revision 005 builds an index CONCURRENTLY in its transaction; the database at 004."""
    project = copy_project(tmp_path / "scryer")
    scenarios.add_concurrent_index_revision(project, empty_db)
    return project


@pytest.fixture
def cancelled_build(empty_db, project):
    """The fixed revision's build cancelled behind a writer and retried by env.py: an INVALID index, the database
    still at 004."""
    scenarios.use_autocommit_block(project)
    result = scenarios.build_behind_a_writer(empty_db, project)
    assert "a table lock was not granted" in result.output and "already exists" in result.output
    return empty_db, project


def run(url, project, **parameters):
    return run_incident(NOTEBOOK, url, alembic_ini=str(project / "alembic.ini"), **parameters)


# read-only checks -------------------------------------------------------------------------------------------------


def test_outside_autocommit_block_finds_the_concurrent_statements_and_nothing_else(project, tmp_path):
    found = diagnosis.outside_autocommit_block(script_of(project))
    assert [(item.revision, item.line) for item in found] == [(AFTER, 21), (AFTER, 25)]
    assert "postgresql_concurrently=True" in found[0].code
    scenarios.use_autocommit_block(project)
    assert diagnosis.outside_autocommit_block(script_of(project)) == []
    (project / "alembic" / "versions" / "006_vacuum.py").write_text(
        'revision = "006_vacuum"\ndown_revision = "005_index_tasks_title"\nfrom alembic import op\n'
        'import sqlalchemy as sa\n\ndef upgrade():\n    op.execute(sa.text("VACUUM ANALYZE tasks"))\n'
        '    op.execute("CREATE INDEX ix_plain ON tasks (title)")\n\ndef downgrade():\n    pass\n'
    )
    assert [item.code for item in diagnosis.outside_autocommit_block(script_of(project))] == [
        'op.execute(sa.text("VACUUM ANALYZE tasks"))'
    ]


def test_the_transaction_block_failure_changes_nothing(empty_db, project):
    before = state(empty_db)
    result = alembic("upgrade", "head", url=empty_db, project=project)
    assert (
        result.returncode == 1
        and (
            "sqlalchemy.exc.InternalError: (psycopg.errors.ActiveSqlTransaction) CREATE "
            "INDEX CONCURRENTLY cannot run inside a transaction block"
        )
        in result.output
    )
    assert state(empty_db) == before


def test_an_index_being_built_is_reported_as_building(empty_db, project):
    """A concurrent build in progress is invalid too: the runbook must never drop it."""
    errors = []

    def build():
        try:
            with psycopg.connect(empty_db, autocommit=True) as conn:
                conn.execute(f"CREATE INDEX CONCURRENTLY {INDEX} ON tasks (title)")
        except psycopg.Error as error:  # reported by the assertion below
            errors.append(error)

    with scenarios.writer_transaction(empty_db):
        builder = threading.Thread(target=build)
        builder.start()
        for _ in range(100):  # the build commits its invalid index first, then waits for the writer
            with diagnosis.connect(empty_db) as conn:
                invalid = diagnosis.invalid_index_details(conn)
            if invalid:
                break
            threading.Event().wait(0.05)
        assert [(index.name, index.building) for index in invalid] == [(INDEX, True)]
    builder.join(30)  # the writer rolled back: the build finishes
    assert not errors
    with diagnosis.connect(empty_db) as conn:
        assert diagnosis.invalid_index_details(conn) == []


# the notebook in incident mode ------------------------------------------------------------------------------------


def test_incident_without_apply_fix_changes_nothing(cancelled_build):
    url, project = cancelled_build
    before = state(url)
    assert [(index.name, index.building) for index in before[2]] == [(INDEX, False)]
    text = outputs(run(url, project, lang="zh"))
    assert state(url) == before
    assert "$ alembic" not in text
    assert f"无效索引：tasks 上的 {INDEX}：CREATE INDEX {INDEX} ON public.tasks USING btree (title)" in text
    assert "未执行：apply_fix=False" in text and f"DROP INDEX CONCURRENTLY IF EXISTS {INDEX};" in text
    assert f"未修复（apply_fix=False）：还有 1 个无效索引：{INDEX}" in text


def test_incident_with_apply_fix_drops_the_invalid_index_and_the_deploy_goes_through(cancelled_build):
    url, project = cancelled_build
    text = outputs(run(url, project, apply_fix=True))
    assert (
        "$ alembic" not in text
        and "NOT applied: apply_fix=False" not in text
        and "fixed: no invalid index left" in text
    )
    _, versions, invalid = state(url)
    assert versions == [BEFORE] and invalid == []  # no alembic command ran against the target
    assert alembic("upgrade", "head", url=url, project=project).returncode == 0
    schema, versions, invalid = state(url)
    assert versions == [AFTER] and invalid == [] and any(INDEX in line for _, line in schema)
