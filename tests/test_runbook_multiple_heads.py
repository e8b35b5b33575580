"""The multiple-heads runbook: its helpers, the notebook in incident mode (a project copy with two heads and a
database at their parent), and the sandbox mode's promise to leave the repository's own scripts alone."""

import re
from pathlib import Path
from types import SimpleNamespace

import pytest
from conftest import outputs, schema_and_versions
from incident_support import run_incident

from scryer_runbook import diagnosis, scenarios
from scryer_runbook.notebooks import NOTEBOOKS, execute
from scryer_runbook.project import REPO_ROOT, alembic, copy_project

NOTEBOOK = NOTEBOOKS / "multiple-heads.en.ipynb"
PARENT = "004_index_tasks_created_at"
MERGE = "006_merge_branches"


def revision_files(project: Path) -> list[str]:
    return sorted(path.name for path in (project / "alembic" / "versions").glob("*.py"))


def heads(project: Path) -> list[str]:
    return sorted(diagnosis.scripts(diagnosis.alembic_config(project / "alembic.ini")).get_heads())


def two_heads(tmp_path) -> Path:
    """A project copy whose history forked at 004 (use it with ``head_db``, a database at 004 before the fork)."""
    project = copy_project(tmp_path / "scryer")
    scenarios.branch_scripts(project)
    return project


# helpers ----------------------------------------------------------------------------------------------------------


def test_single_head_test_fails_on_a_fork_and_passes_on_the_repository(tmp_path):
    project = copy_project(tmp_path / "scryer")
    assert diagnosis.single_head_test(REPO_ROOT) is None
    scenarios.branch_scripts(project)
    failure = diagnosis.single_head_test(project)
    assert failure.startswith("Expected 1 head revision, found 2")
    assert "005_add_tasks_priority" in failure and "005_add_users_last_login" in failure


def test_next_revision_id_follows_the_project_numbering(tmp_path):
    assert (
        diagnosis.next_revision_id(diagnosis.scripts(diagnosis.alembic_config()), "Merge branches!")
        == "005_merge_branches"
    )
    project = copy_project(tmp_path / "scryer")
    scenarios.branch_scripts(project)
    script = diagnosis.scripts(diagnosis.alembic_config(project / "alembic.ini"))
    assert diagnosis.next_revision_id(script, "merge branches") == MERGE
    assert (
        len(diagnosis.next_revision_id(script, "x" * 80)) == 32
    )  # alembic_version.version_num is varchar(32)
    random_ids = SimpleNamespace(
        walk_revisions=lambda: [
            SimpleNamespace(revision="ae1027a6acf"),
            SimpleNamespace(revision="3d4e5f607182"),
        ]
    )
    assert diagnosis.next_revision_id(random_ids, "merge branches") is None


# the notebook in incident mode ------------------------------------------------------------------------------------


@pytest.mark.slow  # runs the notebook
def test_incident_with_apply_fix_writes_the_merge_and_leaves_the_target_to_the_deploy(head_db, tmp_path):
    """The target must never record a revision the deployed code lacks: the next start would fail with
    "Can't locate revision". The merge file goes into the project; the deploy applies it."""
    project = two_heads(tmp_path)
    before = schema_and_versions(head_db)
    text = outputs(run_incident(NOTEBOOK, head_db, alembic_ini=str(project / "alembic.ini"), apply_fix=True))
    assert "test_single_head_revision: Expected 1 head revision, found 2" in text
    assert heads(project) == [MERGE] and f"{MERGE}.py" in revision_files(project)
    assert "NOT applied to the target" in text and "one head in the project" in text
    assert schema_and_versions(head_db) == before and before[1] == [PARENT]
    assert (
        alembic("upgrade", "head", url=head_db, project=project).returncode == 0
    )  # the deploy, with the file
    assert schema_and_versions(head_db)[1] == [MERGE]
    with diagnosis.connect(head_db) as conn:  # both branches' migrations really ran
        assert conn.execute(
            "SELECT count(*) FROM information_schema.columns WHERE (table_name, column_name) "
            "IN (('tasks', 'priority'), ('users', 'last_login'))"
        ).fetchone() == (2,)


@pytest.mark.slow  # runs the notebook
def test_incident_without_apply_fix_changes_nothing_and_prints_the_commands(head_db, tmp_path):
    project = two_heads(tmp_path)
    files, before = revision_files(project), schema_and_versions(head_db)
    nb = run_incident(NOTEBOOK, head_db, alembic_ini=str(project / "alembic.ini"))
    text = outputs(nb)
    assert revision_files(project) == files and len(heads(project)) == 2
    assert schema_and_versions(head_db) == before and before[1] == [PARENT]
    assert "NOT applied: apply_fix=False" in text
    # (quoted or not: Runbook prints the words joined by spaces today; shlex.join would quote the message)
    assert re.search(
        rf"alembic merge -m ['\"]?merge branches['\"]? --rev-id {MERGE} 005_add_tasks_priority "
        r"005_add_users_last_login",
        text,
    )
    assert "NOT fixed (apply_fix=False): 2 heads" in text


# the notebook in sandbox mode -------------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.sandbox_run(NOTEBOOK.name)  # nbmake's run of that notebook is this one
def test_sandbox_mode_works_on_a_copy_and_removes_it():
    files = revision_files(REPO_ROOT)
    text = outputs(execute(NOTEBOOK))
    assert revision_files(REPO_ROOT) == files and heads(REPO_ROOT) == [PARENT]
    generated = Path(re.search(r"Generating (\S+/006_merge_branches\.py)", text)[1])
    assert not generated.is_relative_to(REPO_ROOT)
    assert not generated.parents[2].exists(), "the project copy was not removed"
    assert "project copy removed" in text


@pytest.mark.slow  # runs the notebook
def test_incident_on_a_project_with_one_head_merges_nothing(head_db, tmp_path):
    project = copy_project(tmp_path / "scryer")
    files = revision_files(project)
    text = outputs(run_incident(NOTEBOOK, head_db, alembic_ini=str(project / "alembic.ini"), apply_fix=True))
    assert f"a single head ({PARENT}): nothing to merge" in text and "$ alembic merge" not in text
    assert revision_files(project) == files and "one head in the project" in text
