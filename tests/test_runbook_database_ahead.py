"""The database-ahead runbook: its helpers, and the notebook pointed at a database a newer release migrated.

Incident mode reads the version with SQL and runs no `alembic` command against the target unless apply_fix=True;
then it downgrades with the newer release's code (found in git), so the deployed code can start again.
"""

import time

import psycopg
import pytest
from incident_support import run_incident
from papermill.exceptions import PapermillExecutionError

from scryer_runbook import diagnosis, scenarios
from scryer_runbook.notebooks import NOTEBOOKS
from scryer_runbook.project import alembic, copy_project

NOTEBOOK = NOTEBOOKS / "database-ahead.zh.ipynb"
DEPLOYED_HEAD, NEWER = "004_index_tasks_created_at", "005_add_tasks_done"


def outputs(nb) -> str:
    return "\n".join(
        output.get("text", "") for cell in nb.cells if cell.cell_type == "code" for output in cell.outputs
    )


def state(url):
    """Schema, version rows and data: everything the runbook could change."""
    with diagnosis.connect(url) as conn:
        tasks = conn.execute("SELECT * FROM tasks ORDER BY id").fetchall()
        return diagnosis.schema_snapshot(conn), diagnosis.version_rows(conn), tasks


@pytest.fixture
def rolled_back(empty_db, tmp_path):
    """A database migrated by v1.5 holding one task, the deployed checkout at v1.4."""
    project = scenarios.release_history(copy_project(tmp_path / "scryer"))
    scenarios.migrated_by_newer_release(empty_db, project)
    with psycopg.connect(empty_db) as conn:
        user = conn.execute(
            "INSERT INTO users (id, username, email) VALUES (gen_random_uuid(), 'ada', "
            "'ada@example.com') RETURNING id"
        ).fetchone()[0]
        conn.execute(
            "INSERT INTO tasks (id, user_id, title, done) VALUES (gen_random_uuid(), %s, 'ship', true)",
            [user],
        )
    return empty_db, project


def run(url, project, **parameters):
    return run_incident(NOTEBOOK, url, alembic_ini=str(project / "alembic.ini"), **parameters)


# helpers ----------------------------------------------------------------------------------------------------------


def test_the_rolled_back_code_fails_as_in_production(rolled_back):
    url, project = rolled_back
    for command in (["upgrade", "head"], ["current"]):
        result = alembic(*command, url=url, project=project)
        assert result.returncode == 255
        assert f"FAILED: Can't locate revision identified by '{NEWER}'" in result.output


def test_revision_source_finds_the_release_that_added_the_revision(rolled_back):
    _, project = rolled_back
    script = diagnosis.scripts(diagnosis.alembic_config(project / "alembic.ini"))
    assert diagnosis.unknown_revisions([NEWER], script) == [NEWER]
    assert diagnosis.unknown_revisions([DEPLOYED_HEAD], script) == []
    source = diagnosis.revision_source(project, NEWER)
    assert (
        source.path == f"alembic/versions/{NEWER}.py" and "v1.5" in source.refs and "v1.4" not in source.refs
    )
    # 004 is mentioned first by the commit that adds it, not by 005's down_revision
    assert diagnosis.revision_source(project, DEPLOYED_HEAD).refs == ["main", "v1.4", "v1.5"]
    assert diagnosis.revision_source(project, "999_nowhere") is None


def test_revision_source_outside_git_is_none(tmp_path):
    assert diagnosis.revision_source(tmp_path, NEWER) is None


# the notebook in incident mode ------------------------------------------------------------------------------------


def test_incident_without_apply_fix_changes_nothing_and_runs_no_alembic_command(rolled_back):
    url, project = rolled_back
    before = state(url)
    text = outputs(run(url, project, lang="zh"))
    assert state(url) == before
    assert (
        "$ alembic" not in text
    )  # the version comes from SQL: not even `alembic current` touches the target
    assert f"alembic_version 记录的版本：{NEWER}" in text and f"部署的代码中没有：{NEWER}" in text
    assert "未执行：apply_fix=False" in text
    assert f"alembic downgrade {DEPLOYED_HEAD})" in text and "git worktree add ../scryer-" in text
    assert "op.drop_column('tasks', 'done')" in text  # what the downgrade would do is shown
    assert f"未修复（apply_fix=False）：alembic_version 记录的是 {NEWER}" in text


def test_incident_with_apply_fix_downgrades_with_the_newer_code(rolled_back):
    url, project = rolled_back
    text = outputs(run(url, project, apply_fix=True, lang="zh"))
    assert f"$ alembic downgrade {DEPLOYED_HEAD}" in text and "NOT applied" not in text
    assert f"已修复：数据库处于 {DEPLOYED_HEAD}" in text
    schema, versions, tasks = state(url)
    assert versions == [DEPLOYED_HEAD] and not any("done" in line for _, line in schema)
    assert len(tasks) == 1  # the downgrade dropped the column, not the rows
    assert (
        alembic("upgrade", "head", url=url, project=project).returncode == 0
    )  # the deployed code starts again


def test_diagnosis_runs_to_the_end_on_a_database_that_refuses_writes(rolled_back):
    url, project = rolled_back
    database = psycopg.conninfo.conninfo_to_dict(url)["dbname"]
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute(f'ALTER DATABASE "{database}" SET default_transaction_read_only = on')
    text = outputs(run(url, project))
    assert "[exit " not in text and "Error" not in text
    assert f"not in the deployed code: {NEWER} (the database is ahead of the code)" in text
    assert f"NOT fixed (apply_fix=False): alembic_version records {NEWER}" in text


def test_diagnosis_gives_up_instead_of_waiting_behind_a_lock(rolled_back):
    """A migration holding alembic_version (ACCESS EXCLUSIVE) does not make the incident diagnosis hang: its
    read-only session's lock_timeout ends the wait within seconds, and nothing is changed."""
    url, project = rolled_back
    before = state(url)
    with psycopg.connect(url) as holder:
        holder.execute("LOCK TABLE alembic_version IN ACCESS EXCLUSIVE MODE")
        started = time.monotonic()
        with pytest.raises(PapermillExecutionError, match="lock timeout"):
            run(url, project)
        assert time.monotonic() - started < 60
        holder.rollback()
    assert state(url) == before
