"""The version-too-long runbook: its helpers, and the notebook pointed at a database whose deploy failed.

Incident mode without apply_fix leaves the database and the project as they were; with it, the target's column is
widened (no `alembic upgrade` on the target) and the widening revision is written into the project, after which
the deploy's `alembic upgrade head` goes through.
"""

import psycopg
import pytest
from incident_support import run_incident

from scryer_runbook import diagnosis, scenarios
from scryer_runbook.notebooks import NOTEBOOKS
from scryer_runbook.project import alembic, copy_project

NOTEBOOK = NOTEBOOKS / "version-too-long.zh.ipynb"
BEFORE, LONG = "004_index_tasks_created_at", scenarios.LONG_REVISION


def outputs(nb) -> str:
    return "\n".join(
        output.get("text", "") for cell in nb.cells if cell.cell_type == "code" for output in cell.outputs
    )


def state(url):
    with diagnosis.connect(url) as conn:
        return diagnosis.version_num_type(conn), diagnosis.version_rows(conn), diagnosis.schema_snapshot(conn)


def files(project):
    return {path.name: path.read_text() for path in (project / "alembic" / "versions").glob("*.py")}


@pytest.fixture
def failed_deploy(empty_db, tmp_path):
    """A database at 004 and a project whose next revision's id is 35 characters long."""
    project = copy_project(tmp_path / "scryer")
    scenarios.add_long_revision(project, empty_db)
    return empty_db, project


def run(url, project, **parameters):
    return run_incident(NOTEBOOK, url, alembic_ini=str(project / "alembic.ini"), **parameters)


# helpers ----------------------------------------------------------------------------------------------------------


def test_version_num_width(empty_db):
    with psycopg.connect(empty_db, autocommit=True) as conn:
        assert diagnosis.version_width(conn) == 32  # no table yet: Alembic will create varchar(32)
        conn.execute("CREATE TABLE alembic_version (version_num varchar(32) NOT NULL PRIMARY KEY)")
        assert (diagnosis.version_width(conn), diagnosis.version_num_type(conn)) == (
            32,
            "character varying(32)",
        )
        conn.execute("ALTER TABLE alembic_version ALTER COLUMN version_num TYPE text")
        assert diagnosis.version_width(conn) is None


def test_the_long_id_fails_and_leaves_the_schema_as_it_was(failed_deploy):
    url, project = failed_deploy
    before = state(url)
    result = alembic("upgrade", "head", url=url, project=project)
    assert result.returncode == 1
    assert (
        "sqlalchemy.exc.DataError: (psycopg.errors.StringDataRightTruncation) value too long for type "
        "character varying(32)"
    ) in result.output
    assert state(url) == before  # transactional DDL: 005's add_column was rolled back with the version update
    script = diagnosis.scripts(diagnosis.alembic_config(project / "alembic.ini"))
    assert (
        diagnosis.too_long_revisions(script, 32) == [LONG]
        and diagnosis.too_long_revisions(script, None) == []
    )


def test_the_widening_revision_alone_lets_an_empty_database_reach_head_and_come_back(failed_deploy, scratch):
    _, project = failed_deploy
    scenarios.insert_widening_revision(
        diagnosis.scripts(diagnosis.alembic_config(project / "alembic.ini")), LONG
    )
    fresh = scratch.database("fresh")
    assert alembic("upgrade", "head", url=fresh, project=project).returncode == 0
    assert state(fresh)[:2] == ("character varying(255)", [LONG])
    assert alembic("downgrade", "base", url=fresh, project=project).returncode == 0
    assert state(fresh)[:2] == ("character varying(32)", [])


# the notebook in incident mode ------------------------------------------------------------------------------------


def test_incident_without_apply_fix_changes_nothing(failed_deploy):
    url, project = failed_deploy
    before, scripts_before = state(url), files(project)
    text = outputs(run(url, project, lang="zh"))
    assert state(url) == before and files(project) == scripts_before
    assert "$ alembic" not in text
    assert f"放不下：{LONG}（35 个字符）" in text
    assert "未执行：apply_fix=False" in text
    assert "ALTER TABLE alembic_version ALTER COLUMN version_num TYPE varchar(255);" in text
    assert "未写入（apply_fix=False）：把它保存为 alembic/versions/005_widen_version_num.py" in text
    assert "未修复（apply_fix=False）：version_num 只能放 32 个字符；1 个版本号放不下" in text


def test_incident_with_apply_fix_widens_the_column_and_writes_the_revision(failed_deploy):
    url, project = failed_deploy
    text = outputs(run(url, project, apply_fix=True))
    assert "$ alembic" not in text and "NOT applied: apply_fix=False" not in text
    assert "written into the project, NOT applied to the target" in text
    assert "fixed: version_num holds 255 characters, every revision id fits" in text
    assert state(url)[:2] == (
        "character varying(255)",
        [BEFORE],
    )  # widened; the revisions wait for the deploy
    assert "005_widen_version_num.py" in files(project)
    deploy = alembic("upgrade", "head", url=url, project=project)
    assert deploy.returncode == 0 and state(url)[1] == [LONG]
