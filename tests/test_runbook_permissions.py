"""The permissions runbook: incident mode heals a real database only when asked, and its checks tell the truth."""

import papermill
import psycopg
import pytest
from conftest import outputs
from incident_support import run_incident

from scryer_runbook import diagnosis, scenarios, urls
from scryer_runbook.project import REPO_ROOT, alembic

NOTEBOOK = REPO_ROOT / "notebooks" / "permissions.en.ipynb"


def state(owner_url: str, app: str):
    """Everything the runbook could change: schema, version, the app role's privileges, default privileges."""
    with diagnosis.connect(owner_url) as conn:
        return (
            diagnosis.schema_snapshot(conn),
            diagnosis.version_rows(conn),
            diagnosis.table_privileges(conn, app),
            diagnosis.access_privileges(conn, app),
            diagnosis.default_privileges(conn),
        )


def revoke_connect_from_public(url: str) -> None:
    """A hardened database, as docker/initdb/10-scryer-roles.sh makes it: only granted roles may log in."""
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute(
            psycopg.sql.SQL("REVOKE ALL ON DATABASE {} FROM PUBLIC").format(
                psycopg.sql.Identifier(urls.parse(url).database)
            )
        )


@pytest.mark.slow  # runs the notebook
def test_incident_with_apply_fix_grants_the_app_role(empty_db, scratch):
    roles = scenarios.migrate_as_owner_without_grants(scratch, empty_db)
    revoke_connect_from_public(empty_db)
    assert scenarios.try_as(roles.app_url, "SELECT 1") is not None  # cannot even log in

    nb = run_incident(NOTEBOOK, roles.owner_url, app_role=roles.app, apply_fix=True)

    with diagnosis.connect(roles.owner_url) as conn:
        assert diagnosis.missing_privileges(conn, roles.app) == []
        assert diagnosis.access_privileges(conn, roles.app)["database CONNECT"]
        assert not diagnosis.access_privileges(conn, roles.app)["database CREATE"]  # no more than needed
        assert diagnosis.version_table_writes(conn, roles.app) == []  # Alembic's record stays Alembic's
    assert scenarios.app_round_trip(roles.app_url) is None
    # The default privileges: a table the owner creates later (the next migration) is the app's as well.
    assert (
        scenarios.try_as(roles.owner_url, "CREATE TABLE later (id serial PRIMARY KEY)", commit=True) is None
    )
    assert scenarios.try_as(roles.app_url, "INSERT INTO later DEFAULT VALUES") is None
    assert "NOT applied" not in outputs(nb)


@pytest.mark.slow  # runs the notebook
def test_incident_without_apply_fix_changes_nothing(empty_db, scratch):
    roles = scenarios.migrate_as_owner_without_grants(scratch, empty_db)
    before = state(roles.owner_url, roles.app)

    nb = run_incident(NOTEBOOK, roles.owner_url, app_role=roles.app)

    assert state(roles.owner_url, roles.app) == before
    text = outputs(nb)
    assert "NOT applied: apply_fix=False" in text and "GRANT USAGE ON SCHEMA" in text and "NOT healed" in text
    assert "permission denied for table users" in str(
        scenarios.try_as(roles.app_url, "SELECT count(*) FROM users")
    )


@pytest.mark.slow  # runs the notebook
def test_incident_mode_needs_the_app_role(empty_db, scratch):
    roles = scenarios.migrate_as_owner_without_grants(scratch, empty_db)
    with pytest.raises(papermill.PapermillExecutionError, match="set app_role"):
        run_incident(NOTEBOOK, roles.owner_url)


def test_diagnosis_connection_cannot_grant(empty_db, scratch):
    """The Diagnose steps run on a connection the server keeps read-only: even the owner's grants are refused."""
    roles = scenarios.migrate_as_owner_without_grants(scratch, empty_db)
    with (
        diagnosis.connect(roles.owner_url) as conn,
        pytest.raises(psycopg.errors.ReadOnlySqlTransaction, match="cannot execute GRANT"),
    ):
        conn.execute(scenarios.least_privilege_grants(roles.owner, roles.app)[0])
    with diagnosis.connect(roles.owner_url) as conn:
        assert len(diagnosis.missing_privileges(conn, roles.app)) == 3  # alembic_version, tasks, users


def test_grants_first_then_migrating_as_owner_serves_every_table(empty_db, scratch):
    """The Prevent step: the init script's grants on an empty database, then `alembic upgrade head` as the owner."""
    roles = scenarios.split_roles(scratch, empty_db)
    with psycopg.connect(roles.owner_url, autocommit=True) as owner:
        for statement in scenarios.least_privilege_grants(roles.owner, roles.app):
            owner.execute(statement)
    alembic("upgrade", "head", url=roles.owner_url, check=True)
    with diagnosis.connect(roles.owner_url) as conn:
        assert diagnosis.missing_privileges(conn, roles.app) == []
        assert {item.owner for item in diagnosis.table_privileges(conn, roles.app)} == {roles.owner}
    assert scenarios.app_round_trip(roles.app_url) is None


def test_migrating_as_another_role_defeats_the_default_privileges(empty_db, scratch):
    """Why Alembic must connect as the owner: tables a superuser creates get none of the owner's defaults."""
    roles = scenarios.split_roles(scratch, empty_db)
    with psycopg.connect(roles.owner_url, autocommit=True) as owner:
        for statement in scenarios.least_privilege_grants(roles.owner, roles.app):
            owner.execute(statement)
    alembic("upgrade", "head", url=empty_db, check=True)  # the sandbox's superuser
    with diagnosis.connect(empty_db) as conn:
        assert "table users: SELECT, INSERT, UPDATE, DELETE" in diagnosis.missing_privileges(conn, roles.app)
        assert diagnosis.migration_owner(conn) == urls.parse(empty_db).username
    assert "permission denied for table users" in str(
        scenarios.try_as(roles.app_url, "SELECT count(*) FROM users")
    )


def test_roles_and_default_privileges_read_like_psql(empty_db, scratch):
    roles = scenarios.migrate_as_owner_without_grants(scratch, empty_db)
    with psycopg.connect(roles.owner_url, autocommit=True) as owner:
        for statement in scenarios.least_privilege_grants(roles.owner, roles.app):
            owner.execute(statement)
    superuser = urls.parse(empty_db).username
    with diagnosis.connect(empty_db) as conn:
        described = {
            name: attributes for name, attributes, _ in diagnosis.roles(conn, [roles.app, superuser])
        }
        assert described[roles.app] == "" and "Superuser" in described[superuser]
        assert diagnosis.default_privileges(conn) == [
            (roles.owner, "sequences", roles.app, "SELECT, USAGE"),
            (roles.owner, "tables", roles.app, "DELETE, INSERT, SELECT, UPDATE"),
        ]
