"""The enum-types runbook: what its fixture revisions do on a real PostgreSQL, the read-only enum diagnosis, and the
notebook pointed at a database whose enum lacks a label the models have (incident mode), with and without apply_fix."""

import psycopg
import pytest

from scryer_runbook import diagnosis, scenarios
from scryer_runbook.notebooks import NOTEBOOKS, execute
from scryer_runbook.project import alembic, copy_project

NOTEBOOK = NOTEBOOKS / "enum-types.en.ipynb"
TARGET_ENV = "SCRYER_TEST_ENUM_TARGET"


def outputs(nb) -> str:
    return "\n".join(
        output.get("text", "") for cell in nb.cells if cell.cell_type == "code" for output in cell.outputs
    )


def catalog(url):
    """Enum types with their labels, columns, and recorded versions: what a fix would change."""
    with diagnosis.connect(url) as conn:
        return diagnosis.database_enums(conn), diagnosis.schema_snapshot(conn), diagnosis.version_rows(conn)


@pytest.fixture
def project(tmp_path):
    return copy_project(tmp_path / "scryer")


@pytest.fixture
def at_006(empty_db, project):
    """The state the runbook's third section reaches: 005 and 006 applied, the models already know "blocked"."""
    scenarios.database_with_tasks(empty_db, project)
    scenarios.use_models(project, "v3")
    scenarios.use_revision(project, "005_add_tasks_status", "fixed")
    scenarios.use_revision(project, "006_add_task_archive", "fixed")
    alembic("upgrade", "head", url=empty_db, project=project, check=True)
    return empty_db


def test_fixed_revisions_round_trip_and_leave_no_type_behind(at_006, project):
    scenarios.use_revision(project, "007_add_blocked_status", "fixed")
    alembic("upgrade", "head", url=at_006, project=project, check=True)
    with psycopg.connect(at_006) as conn:
        assert conn.execute(
            "SELECT status::text FROM tasks WHERE title = 'waiting for review'"
        ).fetchone() == ("blocked",)
    alembic("downgrade", "004_index_tasks_created_at", url=at_006, project=project, check=True)
    with diagnosis.connect(at_006) as conn:
        assert diagnosis.database_enums(conn) == []  # 005's downgrade dropped the type
    alembic("upgrade", "head", url=at_006, project=project, check=True)
    assert alembic("check", url=at_006, project=project).returncode == 0


@pytest.mark.parametrize(
    ("revision", "error"),
    [
        ("006_add_task_archive", 'type "task_status" already exists'),
        ("007_add_blocked_status", 'unsafe use of new value "blocked" of enum type task_status'),
    ],
)
def test_broken_revisions_fail_as_the_page_quotes_and_change_nothing(empty_db, project, revision, error):
    scenarios.database_with_tasks(empty_db, project)
    scenarios.use_revision(project, "005_add_tasks_status", "fixed")
    scenarios.use_revision(project, "006_add_task_archive", "fixed")
    alembic("upgrade", "head", url=empty_db, project=project, check=True)
    if revision == "006_add_task_archive":
        alembic("downgrade", "005_add_tasks_status", url=empty_db, project=project, check=True)
    before = catalog(empty_db)
    scenarios.use_revision(project, revision, "broken")
    failed = alembic("upgrade", "head", url=empty_db, project=project)
    assert failed.returncode == 1 and error in failed.output
    assert catalog(empty_db) == before  # the failed revision was rolled back whole


def test_add_column_does_not_create_the_type(empty_db, project):
    scenarios.database_with_tasks(empty_db, project)
    scenarios.use_models(project, "v1")
    alembic(
        "revision",
        "--autogenerate",
        "-m",
        "add tasks.status",
        "--rev-id",
        "005_add_tasks_status",
        url=empty_db,
        project=project,
        check=True,
    )
    body = scenarios.revision_body(project / "alembic/versions/005_add_tasks_status.py")
    assert (
        "sa.Enum('todo', 'done', name='task_status')" in body
        and "create(" not in body
        and "drop(" not in body
    )
    failed = alembic("upgrade", "head", url=empty_db, project=project)
    assert failed.returncode == 1 and 'type "task_status" does not exist' in failed.output


def test_enum_drift_sees_what_alembic_check_does_not(at_006, project):
    assert alembic("check", url=at_006, project=project).returncode == 0
    models = diagnosis.model_enums(diagnosis.project_metadata(project))
    assert models == {"task_status": ["todo", "done", "blocked"]}
    with diagnosis.connect(at_006) as conn:
        database = diagnosis.database_enums(conn)
    assert database == [
        diagnosis.EnumType("task_status", ["todo", "done"], ["task_archive.status", "tasks.status"])
    ]
    drift = diagnosis.enum_drift(database, models)
    assert drift == [("task_status", "missing-labels", ["blocked"])]
    [statement] = diagnosis.add_label_statements(drift)
    with psycopg.connect(at_006) as conn:
        assert statement.as_string(conn) == "ALTER TYPE \"task_status\" ADD VALUE IF NOT EXISTS 'blocked'"


def test_an_unused_type_is_reported(empty_db):
    with psycopg.connect(empty_db) as conn:
        conn.execute("CREATE TYPE leftover AS ENUM ('a')")
    with diagnosis.connect(empty_db) as conn:
        database = diagnosis.database_enums(conn)
    assert diagnosis.enum_drift(database, {}) == [("leftover", "unused-type", ["a"])]


# the notebook in incident mode ------------------------------------------------------------------------------------


@pytest.mark.slow  # a notebook run
def test_incident_without_apply_fix_changes_nothing_and_prints_the_statement(at_006, project, monkeypatch):
    monkeypatch.setenv(TARGET_ENV, at_006)
    before = catalog(at_006)
    nb = execute(NOTEBOOK, {"target_url_env": TARGET_ENV, "alembic_ini": str(project / "alembic.ini")})
    text = outputs(nb)
    assert catalog(at_006) == before
    assert "labels blocked are in the models but not in the database" in text
    assert "NOT applied: apply_fix=False" in text
    assert "    ALTER TYPE \"task_status\" ADD VALUE IF NOT EXISTS 'blocked';" in text
    assert "$ alembic" not in text  # no alembic command ran against the target


@pytest.mark.slow  # a notebook run
def test_incident_with_apply_fix_adds_the_label(at_006, project, monkeypatch):
    monkeypatch.setenv(TARGET_ENV, at_006)
    nb = execute(
        NOTEBOOK,
        {"target_url_env": TARGET_ENV, "alembic_ini": str(project / "alembic.ini"), "apply_fix": True},
    )
    text = outputs(nb)
    assert "NOT applied" not in text and "fixed: the enum types and labels match the models" in text
    with diagnosis.connect(at_006) as conn:
        assert diagnosis.database_enums(conn)[0].labels == ["todo", "done", "blocked"]
