"""The already-exists runbook: its helpers, and the notebook pointed at a broken database (incident mode).

With ``apply_fix=True`` the notebook stamps the revision the schema really matches and upgrades, so the database
ends at head with nothing left for `alembic check`; without it the database is left exactly as it was; and its
diagnosis runs to the end on a database that refuses every write.
"""

import psycopg
import pytest
from conftest import outputs, schema_and_versions
from incident_support import run_incident

from scryer_runbook import diagnosis, scenarios
from scryer_runbook.notebooks import NOTEBOOKS
from scryer_runbook.project import Result, alembic

NOTEBOOK = NOTEBOOKS / "already-exists.en.ipynb"
HEAD = "004_index_tasks_created_at"


# helpers ----------------------------------------------------------------------------------------------------------


def test_create_all_works_outside_the_repository_root(empty_db, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # as a notebook kernel, which runs in notebooks/
    scenarios.create_tables_outside_alembic(empty_db)
    with diagnosis.connect(empty_db) as conn:
        assert diagnosis.app_tables(conn) == ["tasks", "users"] and diagnosis.version_rows(conn) is None


def test_terse_keeps_the_exception_lines_and_drops_the_frames(empty_db):
    scenarios.create_tables_outside_alembic(empty_db)
    full = alembic("upgrade", "head", url=empty_db)
    short = diagnosis.terse(full)
    assert short.returncode == full.returncode == 1 and short.args == full.args
    assert (
        'psycopg.errors.DuplicateTable: relation "users" already exists\n[traceback omitted]\n'
        in short.output
    )
    assert (
        'sqlalchemy.exc.ProgrammingError: (psycopg.errors.DuplicateTable) relation "users" already exists'
        in short.output
    )
    assert "Running upgrade 001_initial -> 002_add_users_table" in short.output
    assert 'File "' not in short.output and "The above exception" not in short.output
    assert "CREATE TABLE users" in short.output  # the [SQL: ...] block stays
    assert len(short.output.splitlines()) < len(full.output.splitlines()) // 3


def test_terse_makes_object_addresses_stable():
    result = Result(
        ["alembic", "check"], 255, "DefaultClause(<sqlalchemy.sql.functions.now at 0x7f0c021fdbd0; now>)"
    )
    assert diagnosis.terse(result).output == "DefaultClause(<sqlalchemy.sql.functions.now at 0x…; now>)"


# the notebook in incident mode ------------------------------------------------------------------------------------


@pytest.mark.parametrize("broken", ["create_all", "partial_003"])
@pytest.mark.slow  # runs the notebook
def test_incident_with_apply_fix_heals_the_target(broken, empty_db, head_db):
    if broken == "create_all":
        scenarios.create_tables_outside_alembic(empty_db)
        alembic("upgrade", "head", url=empty_db)  # the failed deploy: leaves 001_initial recorded
        expected_stamp = HEAD
    else:
        scenarios.schema_at_revision_without_version(empty_db, "003_add_tasks_table")
        expected_stamp = "003_add_tasks_table"
    nb = run_incident(NOTEBOOK, empty_db, apply_fix=True)
    text = outputs(nb)
    assert f"the live schema matches: {expected_stamp}" in text
    assert f"$ alembic stamp {expected_stamp}" in text and "NOT applied" not in text
    assert "healed: the database is at head" in text
    schema, versions = schema_and_versions(empty_db)
    assert versions == [HEAD] and schema == schema_and_versions(head_db)[0]
    assert alembic("check", url=empty_db).returncode == 0


@pytest.mark.slow  # runs the notebook
def test_incident_without_apply_fix_changes_nothing_and_prints_the_commands(empty_db):
    scenarios.schema_at_revision_without_version(empty_db, "002_add_users_table")
    before = schema_and_versions(empty_db)
    nb = run_incident(NOTEBOOK, empty_db)
    text = outputs(nb)
    assert schema_and_versions(empty_db) == before
    assert "NOT applied: apply_fix=False" in text
    assert "    alembic stamp 002_add_users_table\n    alembic upgrade head" in text
    assert "alembic stamp head" not in text  # the guide's advice is never what it tells you to run
    assert "NOT fixed: the database records None" in text
    # `alembic check` would try to create an empty alembic_version: without one it is not run at all
    assert "$ alembic check" not in text and "ReadOnlySqlTransaction" not in text


@pytest.mark.slow  # runs the notebook
def test_diagnosis_runs_to_the_end_on_a_database_that_refuses_writes(empty_db):
    """Every step the notebook takes on the target without apply_fix is a read: a read-only database does not mind."""
    scenarios.create_tables_outside_alembic(empty_db)
    database = psycopg.conninfo.conninfo_to_dict(empty_db)["dbname"]
    with psycopg.connect(empty_db, autocommit=True) as admin:
        admin.execute(f'ALTER DATABASE "{database}" SET default_transaction_read_only = on')
    with psycopg.connect(empty_db) as conn, pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
        conn.execute("CREATE TABLE intruder (id int)")  # the setting really bites
    nb = run_incident(NOTEBOOK, empty_db)  # raises if a cell fails
    text = outputs(nb)
    assert f"the live schema matches: {HEAD}" in text and f"    alembic stamp {HEAD}" in text
