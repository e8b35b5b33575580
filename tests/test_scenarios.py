"""The reproduce steps produce the real failures, and the documented fixes really fix them."""

import psycopg
import pytest

from scryer_runbook import diagnosis, matching, scenarios
from scryer_runbook.project import AlembicProject, alembic, copy_project

HEAD = "004_index_tasks_created_at"


def test_create_all_then_upgrade_fails_with_duplicate_table(empty_db):
    scenarios.create_tables_outside_alembic(empty_db)
    result = alembic("upgrade", "head", url=empty_db)
    assert result.returncode != 0
    assert '(psycopg.errors.DuplicateTable) relation "users" already exists' in result.output


def test_stamp_head_on_partial_schema_skips_revisions_and_check_catches_it(empty_db):
    """The guide's `stamp head`: exit 0, nothing created, `alembic check` then fails."""
    scenarios.schema_at_revision_without_version(empty_db, "002_add_users_table")
    alembic("stamp", "head", url=empty_db, check=True)
    assert alembic("upgrade", "head", url=empty_db).returncode == 0
    with diagnosis.connect(empty_db) as conn:
        assert diagnosis.app_tables(conn) == ["users"]  # tasks was never created
    check = alembic("check", url=empty_db)
    assert check.returncode != 0 and "New upgrade operations detected" in check.output


def test_matching_revision_then_stamp_and_upgrade_heals(empty_db, scratch):
    scenarios.schema_at_revision_without_version(empty_db, "003_add_tasks_table")
    match = matching.matching_revision(empty_db, scratch, AlembicProject.find())
    assert match.revision == "003_add_tasks_table" and match.cannot_tell is None
    alembic("stamp", "003_add_tasks_table", url=empty_db, check=True)
    alembic("upgrade", "head", url=empty_db, check=True)
    assert alembic("check", url=empty_db).returncode == 0


def test_branches_make_upgrade_head_exit_255_and_merge_fixes(empty_db, tmp_path):
    project = copy_project(tmp_path)
    heads = scenarios.branch_scripts(project)
    result = alembic("upgrade", "head", url=empty_db, project=project)
    assert result.returncode == 255 and "Multiple head revisions are present" in result.output
    alembic("merge", "-m", "merge branches", *heads, project=project, check=True)
    alembic("upgrade", "head", url=empty_db, project=project, check=True)
    assert len(diagnosis.scripts(diagnosis.alembic_config(project / "alembic.ini")).get_heads()) == 1


def test_app_role_without_grants_is_denied_and_guide_grant_does_not_help(empty_db, scratch):
    roles = scenarios.migrate_as_owner_without_grants(scratch, empty_db)
    with (
        psycopg.connect(roles.app_url) as app,
        pytest.raises(psycopg.errors.InsufficientPrivilege, match="permission denied for table users"),
    ):
        app.execute("SELECT * FROM users")
    database = psycopg.conninfo.conninfo_to_dict(empty_db)["dbname"]
    with psycopg.connect(empty_db, autocommit=True) as admin:
        admin.execute(f'GRANT ALL PRIVILEGES ON DATABASE "{database}" TO "{roles.app}"')
    with psycopg.connect(roles.app_url) as app, pytest.raises(psycopg.errors.InsufficientPrivilege):
        app.execute("SELECT * FROM users")
    with psycopg.connect(roles.owner_url, autocommit=True) as owner:
        for statement in scenarios.least_privilege_grants(roles.owner, roles.app):
            owner.execute(statement)
    with psycopg.connect(roles.app_url) as app:
        app.execute("INSERT INTO users (id, username, email) VALUES (gen_random_uuid(), 'a', 'a@x')")
        assert app.execute("SELECT count(*) FROM users").fetchone() == (1,)
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="must be owner of table users"):
            app.execute("ALTER TABLE users ADD COLUMN x int")


def test_rename_is_drop_add_until_the_migration_is_edited(head_db, tmp_path):
    project = copy_project(tmp_path)
    scenarios.rename_username_to_login(project)
    check = alembic("check", url=head_db, project=project)
    assert check.returncode != 0 and "remove_column" in check.output and "add_column" in check.output
    alembic(
        "revision",
        "--autogenerate",
        "-m",
        "rename username to login",
        "--rev-id",
        "005_rename_login",
        url=head_db,
        project=project,
        check=True,
    )
    scenarios.rewrite_drop_add_as_rename(
        scenarios.latest_revision_file(project), "users", "username", "login"
    )
    with psycopg.connect(head_db) as conn:
        conn.execute("INSERT INTO users (id, username, email) VALUES (gen_random_uuid(), 'kept', 'k@x')")
        conn.commit()
    alembic("upgrade", "head", url=head_db, project=project, check=True)
    assert alembic("check", url=head_db, project=project).returncode == 0
    with psycopg.connect(head_db) as conn:
        assert conn.execute("SELECT login FROM users").fetchall() == [("kept",)]


def test_revision_edits_fail_loudly_when_their_anchor_is_gone(tmp_path):
    """The scenario edits autogenerate's output with patterns: if Alembic writes it differently one day, the edit
    must raise and name the file, not leave the revision as it was."""
    revision = tmp_path / "005_other.py"
    text = '''def upgrade() -> None:\n    """Upgrade schema."""\n    op.add_column('users', sa.Column('login'))\n\n'''
    revision.write_text(text + '''def downgrade() -> None:\n    """Downgrade schema."""\n    pass\n''')
    with pytest.raises(ValueError, match=r"found 1 time\(s\) in 005_other\.py upgrade\(\), 2 expected"):
        scenarios.rewrite_drop_add_as_rename(revision, "users", "username", "login")
    with pytest.raises(ValueError, match=r"found 0 time\(s\) in 005_other\.py"):
        scenarios.drop_unique_constraint_churn(revision, "users", "username", "login")
    assert revision.read_text().startswith(text)  # nothing half-done


def test_server_default_change_is_seen_by_check(head_db, tmp_path):
    project = copy_project(tmp_path)
    scenarios.add_server_default_to_is_active(project)
    check = alembic("check", url=head_db, project=project)
    assert check.returncode != 0 and "modify_default" in check.output


def test_diagnosis_connection_cannot_write(empty_db):
    """Read-only is enforced by the server: a write from the diagnosis path is rejected."""
    with diagnosis.connect(empty_db) as conn, pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
        conn.execute("CREATE TABLE intruder (id int)")
    with diagnosis.connect(empty_db) as conn, pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
        conn.execute("SET default_transaction_read_only = off")  # even turning it off inside fails
        conn.execute("CREATE TABLE intruder (id int)")


def test_pending_and_drift(empty_db):
    alembic("upgrade", "002_add_users_table", url=empty_db, check=True)
    script = diagnosis.scripts(diagnosis.alembic_config())
    with diagnosis.connect(empty_db) as conn:
        assert diagnosis.pending_revisions(script, diagnosis.version_rows(conn)) == [
            "003_add_tasks_table",
            HEAD,
        ]
    from src.backend.app.models import Base

    assert [d[0] for d in diagnosis.drift(empty_db, Base.metadata)] == ["add_table", "add_index"]
