"""The autogenerate-drift runbook: incident mode writes only when asked, never applies a data-dropping revision,
and the helpers it relies on (read-only URL, project metadata, the rename edit) do what they claim."""

from pathlib import Path

import psycopg
import pytest
from conftest import outputs
from incident_support import run_incident

from scryer_runbook import diagnosis, scenarios
from scryer_runbook.project import REPO_ROOT, alembic, copy_project

NOTEBOOK = REPO_ROOT / "notebooks" / "autogenerate-drift.en.ipynb"


def project_files(project: Path) -> list[Path]:
    return sorted(p.relative_to(project) for p in project.rglob("*") if "__pycache__" not in p.parts)


def database_state(url: str):
    with diagnosis.connect(url) as conn:
        return (
            diagnosis.schema_snapshot(conn),
            diagnosis.version_rows(conn),
            conn.execute("SELECT * FROM users ORDER BY id").fetchall(),
        )


@pytest.fixture
def at_head(empty_db, tmp_path):
    """A database at head holding one user, and a throwaway project copy whose models the test then edits."""
    project = copy_project(tmp_path / "scryer")
    scenarios.database_at_head_with_a_user(empty_db, project)
    return empty_db, project


def run(url: str, project: Path, **parameters):
    return run_incident(NOTEBOOK, url, alembic_ini=str(project / "alembic.ini"), **parameters)


@pytest.mark.slow  # runs the notebook
def test_incident_with_apply_fix_writes_a_safe_revision_and_leaves_the_target_to_the_deploy(at_head):
    """The generated revision goes into the project and is shown; the target is not upgraded (it would record a
    revision the deployed code lacks). Deploying the project then heals it."""
    url, project = at_head
    scenarios.add_server_default_to_is_active(project)
    before, state = scenarios.revision_files(project), database_state(url)

    text = outputs(run(url, project, apply_fix=True))

    [generated] = scenarios.revision_files(project) - before
    assert scenarios.destructive_operations(generated) == []
    assert "NOT applied to the target" in text and generated.name in text
    assert database_state(url) == state
    assert alembic("upgrade", "head", url=url, project=project).returncode == 0  # the deploy
    assert alembic("check", url=url, project=project).returncode == 0
    with diagnosis.connect(url) as conn:
        assert diagnosis.version_rows(conn) == [generated.stem]
        assert conn.execute(
            "SELECT column_default FROM information_schema.columns WHERE table_name = 'users' "
            "AND column_name = 'is_active'"
        ).fetchone() == ("true",)
        assert conn.execute("SELECT username FROM users").fetchall() == [("ada",)]


@pytest.mark.slow  # runs the notebook
def test_incident_rename_is_refused_even_with_apply_fix(at_head):
    url, project = at_head
    scenarios.rename_username_to_login(project)
    files, state = project_files(project), database_state(url)

    nb = run(url, project, apply_fix=True)

    text = outputs(nb)
    assert "REFUSED" in text and "op.drop_column('users', 'username')" in text
    assert "ALTER TABLE users DROP COLUMN username" in text  # the --sql preview was shown first
    assert project_files(project) == files  # the generated revision was removed again
    assert database_state(url) == state


@pytest.mark.slow  # runs the notebook
def test_incident_without_apply_fix_writes_nothing(at_head):
    url, project = at_head
    scenarios.rename_username_to_login(project)
    scenarios.add_server_default_to_is_active(project)
    files, state = project_files(project), database_state(url)

    nb = run(url, project)

    text = outputs(nb)
    assert "NOT applied: apply_fix=False" in text and "alembic revision --autogenerate" in text
    assert "remove_column users.username VARCHAR(50) NOT NULL" in text  # diagnosed all the same
    assert "NOT healed yet" in text
    assert project_files(project) == files
    assert database_state(url) == state


def test_read_only_url_lets_alembic_read_but_not_write(empty_db):
    alembic("upgrade", "002_add_users_table", url=empty_db, check=True)
    read_only = diagnosis.read_only_url(empty_db)
    assert (
        alembic("check", url=read_only).output.rstrip().endswith("FAILED: Target database is not up to date.")
    )
    assert "002_add_users_table" in alembic("current", url=read_only).output
    assert alembic("upgrade", "head", url=read_only).returncode != 0
    with diagnosis.connect(empty_db) as conn:
        assert diagnosis.version_rows(conn) == ["002_add_users_table"]
        assert diagnosis.app_tables(conn) == ["users"]


def test_project_metadata_reads_a_copy_without_disturbing_our_models(tmp_path):
    from src.backend.app.models import Base

    project = copy_project(tmp_path / "scryer")
    scenarios.rename_username_to_login(project)
    theirs = diagnosis.project_metadata(project)
    assert "login" in theirs.tables["users"].c and "username" not in theirs.tables["users"].c
    from src.backend.app.models import Base as ours_again

    assert ours_again is Base and "username" in Base.metadata.tables["users"].c


def test_describe_drift_and_the_rename_edit_keep_the_data_both_ways(at_head):
    url, project = at_head
    scenarios.rename_username_to_login(project)
    assert diagnosis.describe_drift(diagnosis.drift(url, diagnosis.project_metadata(project))) == [
        "add_column users.login VARCHAR(50) NOT NULL",
        "remove_constraint UNIQUE users_username_key on users (username)",
        "add_constraint UNIQUE (unnamed) on users (login)",
        "remove_column users.username VARCHAR(50) NOT NULL",
    ]
    alembic(
        "revision",
        "--autogenerate",
        "-m",
        "rename",
        "--rev-id",
        "005_rename",
        url=url,
        project=project,
        check=True,
    )
    path = project / "alembic" / "versions" / "005_rename.py"
    assert scenarios.destructive_operations(path) == ["op.drop_column('users', 'username')"]
    scenarios.rewrite_drop_add_as_rename(path, "users", "username", "login")
    scenarios.drop_unique_constraint_churn(path, "users", "username", "login")
    assert scenarios.destructive_operations(path) == []
    assert "constraint" not in scenarios.revision_body(path)
    for step in (["upgrade", "head"], ["downgrade", "-1"], ["upgrade", "head"]):
        alembic(*step, url=url, project=project, check=True)
    assert alembic("check", url=url, project=project).returncode == 0
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT login FROM users").fetchall() == [("ada",)]
