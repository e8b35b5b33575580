"""The doctor names every failure the runbooks reproduce, with the right runbook, and never writes.

Each test breaks a scratch database (or a throwaway copy of the scripts) with the same `scenarios` steps the
notebooks use, then asserts that exactly the expected checks report, each linking the expected page.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from scryer_runbook import checks, diagnosis, doctor, problems, sandbox, scenarios, server, urls
from scryer_runbook.checks import FAIL, OK, SKIP, WARN
from scryer_runbook.notebooks import normalise
from scryer_runbook.project import REPO_ROOT, alembic, copy_project

HEAD = "004_index_tasks_created_at"
SNIPPETS = REPO_ROOT / "docs" / "snippets"
DB_CHECKS = ["server", "version-table", "revision", "version-width", "drift", "migration-role", "app-role", "locks",
             "migration-lock"]


def triage(url: str, project: Path | None = None, **kwargs) -> doctor.Report:
    return doctor.triage(url, project / "alembic.ini" if project else None, lang="en", **kwargs)


def assert_findings(report: doctor.Report, expected: dict[str, str | None], warnings: dict | None = None) -> None:
    """Exactly these checks FAIL (and exactly ``warnings`` WARN), each linking its page."""
    text = report.text()
    assert {c.id: c.link for c in report.checks if c.status == FAIL} == expected, text
    assert {c.id: c.link for c in report.checks if c.status == WARN} == (warnings or {}), text
    assert report.exit_code == (1 if expected else 0), text
    assert [c.id for c in report.checks] == ["connection", "server", "scripts", *DB_CHECKS[1:]], text
    for check in report.checks:
        if check.link:
            assert f"{check.id:<15} {check.summary}" in text and check.url("en") in text


def run_cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "scryer_runbook.cli", "doctor", *args], cwd=REPO_ROOT,
                          env={**os.environ, **(env or {})}, capture_output=True, text=True, timeout=60)


@pytest.fixture
def at_head(head_db):
    return head_db


def admin(url: str) -> psycopg.Connection:
    return psycopg.connect(url, autocommit=True)


def database_name(url: str) -> str:
    return urls.parse(url).database


# healthy --------------------------------------------------------------------------------------------------------


def test_healthy_database_at_head(at_head):
    report = triage(at_head)
    assert_findings(report, {})
    assert {c.id: c.status for c in report.checks} == {
        "connection": OK, "server": OK, "scripts": OK, "version-table": OK, "revision": OK, "version-width": OK,
        "drift": OK, "migration-role": OK, "app-role": SKIP, "locks": OK, "migration-lock": OK}
    assert report.check("revision").summary == f"at head {HEAD}"
    assert report.check("drift").summary.startswith("the live schema matches the models (env.py's target_metadata")
    assert report.text().splitlines()[-1].startswith("healthy: 10 ok, 1 skipped;")


def test_healthy_with_owner_and_app_roles(scratch, empty_db):
    roles = scenarios.migrate_as_owner_without_grants(scratch, empty_db)
    with admin(roles.owner_url) as owner:
        for statement in scenarios.least_privilege_grants(roles.owner, roles.app):
            owner.execute(statement)
    report = triage(roles.owner_url, app_role=roles.app)
    assert_findings(report, {})
    assert report.check("app-role").status == OK and report.check("migration-role").status == OK
    assert report.check("migration-role").summary == f"{roles.owner} owns every object in public and may create there"


# reaching the server --------------------------------------------------------------------------------------------


def assert_connection_finding(report: doctor.Report, kind: str, runbook: str) -> None:
    assert_findings(report, {"connection": runbook})
    assert report.check("connection").evidence[0].startswith(f"{kind}: ")
    assert report.check("scripts").status == OK  # the project is still read
    assert all(report.check(check_id).status == SKIP for check_id in DB_CHECKS)


@pytest.mark.parametrize("kind", ["refused", "unresolved", "database-missing", "password", "no-connect",
                                  "role-missing"])
def test_connection_failures(kind, scratch):
    if kind == "refused":
        url = f"postgresql://postgres@127.0.0.1:{scenarios.unused_port()}/postgres"
    elif kind == "unresolved":
        url = "postgresql://scryer@nosuchhost.invalid:5432/scryer"
    elif kind == "database-missing":
        url = scenarios.missing_database_url(scratch.admin_url)
    elif kind == "password":
        url = scenarios.wrong_password_url(scratch, scratch.database("pw"))
    elif kind == "no-connect":
        database = scratch.database("noconnect")
        role, password = scratch.role("noconnect")
        with admin(scratch.admin_url) as conn:
            conn.execute(sql.SQL("REVOKE CONNECT ON DATABASE {} FROM PUBLIC").format(
                sql.Identifier(database_name(database))))
        url = sandbox.as_role(database, role, password)
    else:  # over the Unix socket (trust) the server says so; over TCP with a password it would not tell
        with admin(scratch.admin_url) as conn:
            sockets = conn.execute("SHOW unix_socket_directories").fetchone()[0]
            port = conn.info.port
        url = f"postgresql://nosuchrole@/postgres?host={sockets}&port={port}"
    report = triage(url)
    assert_connection_finding(report, kind, "permissions" if kind == "no-connect" else "not-ready")


def test_connection_timeout():
    """Something accepts the TCP connection and never answers (a black-holing firewall, a hung proxy)."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        started = time.monotonic()
        report = triage(f"postgresql://scryer@127.0.0.1:{silent.getsockname()[1]}/scryer", connect_timeout=2)
    assert_connection_finding(report, "timeout", "not-ready")
    assert time.monotonic() - started < 5


@pytest.mark.parametrize("state", sorted(scenarios.NOT_ACCEPTING_STATES))
def test_server_up_but_not_accepting(state):
    with scenarios.server_in_state(state) as url:
        report = triage(url)
    assert_connection_finding(report, state, "not-ready")
    assert scenarios.NOT_ACCEPTING_STATES[state][1] in report.check("connection").evidence[0]


# the server -----------------------------------------------------------------------------------------------------


def test_read_only_by_default(at_head):
    with admin(at_head) as conn:
        conn.execute(sql.SQL("ALTER DATABASE {} SET default_transaction_read_only = on").format(
            sql.Identifier(database_name(at_head))))
    report = triage(at_head)
    assert_findings(report, {"server": "not-ready"})
    assert report.check("server").evidence == ["ALTER DATABASE ... SET default_transaction_read_only=on"]
    stamp = alembic("stamp", "003_add_tasks_table", url=at_head)  # the migration tool really cannot write
    assert stamp.returncode != 0 and "read-only transaction" in stamp.output


def test_read_only_standby():
    """A hot standby: it answers and serves reads, but no migration can run there."""
    srv = server.start_server()
    try:
        alembic("upgrade", "head", url=srv.url, check=True)
        user = server._run_as()  # noqa: SLF001 - the account the server runs as
        (srv.datadir / "standby.signal").write_text("")
        if user:
            os.chown(srv.datadir / "standby.signal", user.pw_uid, user.pw_gid)
        pg_ctl = [str(srv.bindir / "pg_ctl"), "-D", str(srv.datadir), "-l", str(srv.root / "server.log")]
        server._run([*pg_ctl, "-m", "fast", "-w", "restart"], user,  # noqa: SLF001
                    stdin=subprocess.DEVNULL, start_new_session=True)
        report = triage(srv.url)
    finally:
        srv.stop()
    assert_findings(report, {"server": "not-ready"})
    assert report.check("server").evidence == ["pg_is_in_recovery() = true"]


# Alembic state --------------------------------------------------------------------------------------------------


def test_multiple_heads(empty_db, tmp_path):
    project = copy_project(tmp_path)
    alembic("upgrade", "head", url=empty_db, project=project, check=True)
    heads = scenarios.branch_scripts(project)
    report = triage(empty_db, project)
    assert_findings(report, {"scripts": "multiple-heads"})
    assert report.check("scripts").evidence == [f"heads: {', '.join(sorted(heads))}"]
    assert report.check("revision").status == SKIP


def test_tables_without_version_table(empty_db):
    scenarios.create_tables_outside_alembic(empty_db)
    report = triage(empty_db)
    assert_findings(report, {"version-table": "already-exists"})
    assert report.check("version-table").evidence == [
        "tables: tasks, users",
        "the live schema matches the models, so most likely head: `alembic stamp head`, then `alembic check`"]


def test_partial_schema_without_version_table(empty_db):
    """The case where the guide's `stamp head` loses revisions: the doctor says not to."""
    scenarios.schema_at_revision_without_version(empty_db, "002_add_users_table")
    report = triage(empty_db)
    assert_findings(report, {"version-table": "already-exists"})
    tables, verdict = report.check("version-table").evidence
    assert tables == "tables: users"
    assert "add_table tasks" in verdict and "a partial schema, do not `stamp head`" in verdict


def test_overlapping_version_rows(at_head):
    with admin(at_head) as conn:
        conn.execute("INSERT INTO alembic_version VALUES ('002_add_users_table')")
    report = triage(at_head)
    assert_findings(report, {"version-table": "multiple-heads"})
    quoted = re.search(r'"(Requested revision .*)"', report.check("version-table").summary)[1]
    upgrade = alembic("upgrade", "head", url=at_head)
    assert upgrade.returncode != 0 and f"FAILED: {quoted}" in upgrade.output  # Alembic's own words


def test_revision_unknown_to_the_scripts(empty_db, tmp_path):
    """Migrated from a branch that has a revision this checkout lacks (a switched git branch)."""
    other_branch = copy_project(tmp_path)
    alembic("revision", "-m", "add column on another branch", "--rev-id", "005_other_branch",
            project=other_branch, check=True)
    alembic("upgrade", "head", url=empty_db, project=other_branch, check=True)
    report = triage(empty_db)  # this repository's scripts
    assert_findings(report, {"version-table": "troubleshooting"})
    assert "\"Can't locate revision identified by '005_other_branch'\"" in report.check("version-table").summary
    upgrade = alembic("upgrade", "head", url=empty_db)
    assert upgrade.returncode != 0
    assert "FAILED: Can't locate revision identified by '005_other_branch'" in upgrade.output


def test_behind_head(empty_db):
    alembic("upgrade", "002_add_users_table", url=empty_db, check=True)
    report = triage(empty_db)
    assert_findings(report, {"revision": "run-migrations"})
    assert report.check("revision").evidence == ["current: 002_add_users_table",
                                                 f"pending: 003_add_tasks_table, {HEAD}"]
    assert report.check("drift").status == SKIP


def test_empty_database(empty_db):
    report = triage(empty_db)
    assert_findings(report, {"revision": "run-migrations"})
    assert report.check("revision").summary.startswith("empty database: 4 revisions pending")


def test_tables_of_another_application_are_not_a_collision(empty_db):
    """A schema shared with something else: no model table exists yet, so nothing "already exists"."""
    with admin(empty_db) as conn:
        conn.execute("CREATE TABLE legacy_reports (id int)")
    report = triage(empty_db)
    assert_findings(report, {"revision": "run-migrations"})
    assert report.check("version-table").summary == ("alembic_version: no version table yet (nothing migrated here "
                                                     "yet; 1 tables of something else)")
    assert report.check("revision").summary.startswith("nothing migrated yet: 4 revisions pending")


def test_revision_id_too_long_for_version_table(at_head, tmp_path):
    project = copy_project(tmp_path)
    long_id = "005_add_users_last_login_timestamp"  # 34 characters; alembic_version.version_num is varchar(32)
    alembic("revision", "-m", "long id", "--rev-id", long_id, project=project, check=True)
    report = triage(at_head, project)
    assert_findings(report, {"revision": "run-migrations", "version-width": "run-migrations"})
    assert report.check("version-width").evidence == [f"{long_id} (34 characters)"]
    upgrade = alembic("upgrade", "head", url=at_head, project=project)
    assert upgrade.returncode != 0 and "value too long for type character varying(32)" in upgrade.output


# drift ----------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("edit, expected", [
    (scenarios.rename_username_to_login, ["add_column users.login", "remove_column users.username"]),
    (scenarios.add_server_default_to_is_active, ["modify_default users.is_active"]),
])
def test_models_drifted_from_the_database(edit, expected, at_head, tmp_path):
    project = copy_project(tmp_path)
    edit(project)
    ours = sys.modules.get("src.backend.app.models")
    report = triage(at_head, project)
    assert_findings(report, {"drift": "autogenerate-drift"})
    evidence = report.check("drift").evidence
    assert all(any(line.startswith(item) for line in evidence) for item in expected), evidence
    assert sys.modules.get("src.backend.app.models") is ours  # the copy's models were imported aside
    check = alembic("check", url=at_head, project=project)
    assert check.returncode != 0 and "New upgrade operations detected" in check.output


# privileges -----------------------------------------------------------------------------------------------------


def test_app_role_without_grants(scratch, empty_db):
    roles = scenarios.migrate_as_owner_without_grants(scratch, empty_db)
    report = triage(roles.owner_url, app_role=roles.app)
    assert_findings(report, {"app-role": "permissions"})
    assert report.check("app-role").evidence == [
        f"no SELECT, INSERT, UPDATE, DELETE on table {table}" for table in ("tasks", "users")]
    with psycopg.connect(roles.app_url) as app, pytest.raises(psycopg.errors.InsufficientPrivilege):
        app.execute("SELECT * FROM users")


def grants(roles, *indexes: int) -> None:
    statements = scenarios.least_privilege_grants(roles.owner, roles.app)
    with admin(roles.owner_url) as owner:
        for index in indexes:
            owner.execute(statements[index])


def test_app_role_without_sequence_grant(scratch, empty_db):
    """A sequence the app calls nextval() on (created by a migration's op.execute; autogenerate cannot see it)."""
    roles = scenarios.migrate_as_owner_without_grants(scratch, empty_db)
    grants(roles, 0, 1, 3)  # schema, tables, default privileges on tables: no sequence grants
    with admin(roles.owner_url) as owner:
        owner.execute("CREATE SEQUENCE invoice_numbers")
    report = triage(roles.owner_url, app_role=roles.app)
    assert_findings(report, {"app-role": "permissions"})
    assert report.check("app-role").evidence == ["no USAGE, SELECT on sequence invoice_numbers"]
    with psycopg.connect(roles.app_url) as app, pytest.raises(psycopg.errors.InsufficientPrivilege,
                                                             match="permission denied for sequence"):
        app.execute("SELECT nextval('invoice_numbers')")


def test_identity_columns_need_no_sequence_grant(scratch, empty_db):
    roles = scenarios.migrate_as_owner_without_grants(scratch, empty_db)
    grants(roles, 0, 1, 3)
    with admin(roles.owner_url) as owner:
        owner.execute("CREATE TABLE events (id int GENERATED ALWAYS AS IDENTITY PRIMARY KEY, name text)")
    report = triage(roles.owner_url, app_role=roles.app, metadata="none")  # events is not in the models
    assert_findings(report, {})
    assert report.check("app-role").status == OK and report.check("drift").status == SKIP
    with psycopg.connect(roles.app_url) as app:
        app.execute("INSERT INTO events (name) VALUES ('works')")


def test_app_role_without_default_privileges_warns(scratch, empty_db):
    roles = scenarios.migrate_as_owner_without_grants(scratch, empty_db)
    grants(roles, 0, 1, 2)  # today's tables and sequences, nothing for the next migration's tables
    report = triage(roles.owner_url, app_role=roles.app)
    assert_findings(report, {}, warnings={"app-role": "permissions"})  # exit 0: a warning
    assert report.check("app-role").evidence == [
        f"no ALTER DEFAULT PRIVILEGES FOR ROLE {roles.owner} IN SCHEMA public GRANT ... ON TABLES TO {roles.app}"]
    strict = triage(roles.owner_url, app_role=roles.app, strict=True)
    assert strict.exit_code == 1 and [c.id for c in strict.findings] == ["app-role"]


def test_app_role_that_does_not_exist(at_head):
    report = triage(at_head, app_role="nosuchrole")
    assert_findings(report, {"app-role": "permissions"})
    assert report.check("app-role").summary == "role nosuchrole does not exist"


def test_migration_role_that_cannot_migrate(scratch, empty_db):
    """Migrations run as the app's DML-only role: no CREATE on the schema, owns nothing it must ALTER."""
    roles = scenarios.migrate_as_owner_without_grants(scratch, empty_db)
    grants(roles, 0, 1, 2, 3, 4)
    report = triage(roles.app_url)
    assert_findings(report, {"migration-role": "permissions"})
    check = report.check("migration-role")
    assert check.summary == (f"{roles.app} cannot run migrations here: no CREATE on schema public (\"permission "
                             "denied for schema public\"); does not own 3 objects it must alter (\"must be owner "
                             "of table ...\")")
    assert check.evidence == [f"table {table} is owned by {roles.owner}" for table in ("alembic_version", "tasks",
                                                                                       "users")]
    with psycopg.connect(roles.app_url) as app, pytest.raises(psycopg.errors.InsufficientPrivilege,
                                                             match="must be owner of table users"):
        app.execute("ALTER TABLE users ADD COLUMN x int")


# locks ----------------------------------------------------------------------------------------------------------


def test_sessions_blocking_ddl(at_head):
    """An idle-in-transaction session holds a lock on users; a migration's ALTER TABLE queues behind it."""
    blocker = psycopg.connect(at_head)
    blocker.execute("SELECT count(*) FROM users")  # AccessShareLock, held until the transaction ends
    pid = blocker.info.backend_pid
    waiter = psycopg.connect(at_head, autocommit=True)
    waiting = threading.Thread(target=lambda: waiter.execute("ALTER TABLE users ADD COLUMN blocked int"))
    try:
        time.sleep(checks.IDLE_IN_TRANSACTION_SECONDS + 0.1)
        waiting.start()
        time.sleep(0.3)
        report = triage(at_head)
    finally:
        blocker.rollback()
        waiting.join(timeout=10)
        with admin(at_head) as conn:
            conn.execute("ALTER TABLE users DROP COLUMN IF EXISTS blocked")
        blocker.close()
        waiter.close()
    assert_findings(report, {"locks": "run-migrations"})
    evidence = report.check("locks").evidence
    assert any(f"waits for AccessExclusiveLock on users, blocked by pid {pid}" in line
               for line in evidence), evidence
    assert any(f"pid {pid} " in line and "is idle in transaction" in line
               and "holding AccessShareLock on users" in line for line in evidence), evidence


def test_long_transaction_holding_a_table_lock_warns(at_head, monkeypatch):
    """A long report query keeps AccessShareLock on users: not blocking yet, but DDL would queue behind it."""
    monkeypatch.setattr(checks, "LONG_TRANSACTION_SECONDS", 0)  # instead of waiting a minute
    with psycopg.connect(at_head) as reporting:
        pid = reporting.info.backend_pid
        running = threading.Thread(target=lambda: reporting.execute("SELECT count(*) FROM users, pg_sleep(3)"))
        running.start()
        try:
            with admin(at_head) as conn:
                deadline = time.monotonic() + 10
                while not conn.execute("SELECT count(*) FROM pg_locks WHERE pid = %s AND relation = 'users'::regclass",
                                       [pid]).fetchone()[0]:
                    assert time.monotonic() < deadline, "the report query never started"
                    time.sleep(0.02)
            report = triage(at_head)
        finally:
            running.join()
    assert_findings(report, {}, warnings={"locks": "run-migrations"})
    assert any("in a transaction for" in line and "holding AccessShareLock on users" in line
               for line in report.check("locks").evidence), report.check("locks").evidence


@pytest.mark.parametrize("key", [checks.SCRYER_LOCK_KEY, -5, 9_000_000_000])  # another project's key: --lock-key
def test_migration_lock_held(key, at_head):
    """A session holds the migration lock and sits idle (a stuck deploy step, a backend that outlived its client)."""
    env_py = (REPO_ROOT / "alembic" / "env.py").read_text()
    assert 'MIGRATION_LOCK_KEY = zlib.crc32(b"scryer:alembic") & 0x7FFFFFFF' in env_py  # = checks.SCRYER_LOCK_KEY
    with admin(at_head) as holder:
        holder.execute("SELECT pg_advisory_lock(%s)", [key])
        pid = holder.info.backend_pid
        report = triage(at_head, lock_key=key)
    assert_findings(report, {"migration-lock": "docker"})
    assert report.check("migration-lock").evidence[0].startswith(f"pid {pid} (postgres")


def test_real_migration_waiting_behind_an_app_transaction(empty_db):
    """`alembic upgrade head` holds the migration lock while its CREATE INDEX waits for another session's lock."""
    alembic("upgrade", "003_add_tasks_table", url=empty_db, check=True)
    app = psycopg.connect(empty_db)
    # What a running VACUUM, ANALYZE or index build holds: 004's CREATE INDEX CONCURRENTLY waits for it on tasks.
    app.execute("LOCK TABLE tasks IN SHARE UPDATE EXCLUSIVE MODE")
    migration = subprocess.Popen([sys.executable, "-m", "alembic", "upgrade", "head"], cwd=REPO_ROOT,
                                 env={**os.environ, "DATABASE_URL": empty_db, "MIGRATION_LOCK_TIMEOUT": "30s"},
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        with admin(empty_db) as conn:
            deadline = time.monotonic() + 20
            while not conn.execute("SELECT count(*) FROM pg_locks WHERE NOT granted AND relation = 'tasks'::regclass"
                                   ).fetchone()[0]:
                assert time.monotonic() < deadline and migration.poll() is None, "the migration never waited"
                time.sleep(0.05)
        report = triage(empty_db)
    finally:
        app.rollback()
        app.close()
        output = migration.communicate(timeout=30)[0]
    assert migration.returncode == 0, output
    assert_findings(report, {"revision": "run-migrations", "locks": "run-migrations", "migration-lock": "docker"})
    assert report.check("migration-lock").evidence[0].endswith(", active") or ", active, for" in \
        report.check("migration-lock").evidence[0]
    assert any("waits for ShareUpdateExclusiveLock on tasks" in line for line in report.check("locks").evidence)


# read-only, passwords, exit codes, languages ----------------------------------------------------------------------


def test_the_doctors_sessions_cannot_write(empty_db, tmp_path, monkeypatch):
    """Every connection the doctor opens is read-only on the server side, and a broken database stays as it was."""
    scenarios.create_tables_outside_alembic(empty_db)
    project = copy_project(tmp_path)
    with diagnosis.connect(empty_db) as conn:
        before = diagnosis.schema_snapshot(conn), diagnosis.version_rows(conn)
    files = sorted(path for path in project.rglob("*") if "__pycache__" not in path.parts)
    opened = []
    real_connect = psycopg.connect

    def recording_connect(*args, **kwargs):
        opened.append(kwargs.get("options", ""))
        return real_connect(*args, **kwargs)

    monkeypatch.setattr(psycopg, "connect", recording_connect)  # diagnosis.connect and SQLAlchemy's dialect both
    report = triage(empty_db, project, app_role="postgres")
    monkeypatch.undo()
    assert report.check("version-table").status == FAIL and report.check("drift").status == SKIP
    assert len(opened) == 2 and all("default_transaction_read_only=on" in options for options in opened), opened
    with diagnosis.connect(empty_db) as conn:
        assert (diagnosis.schema_snapshot(conn), diagnosis.version_rows(conn)) == before
    assert sorted(path for path in project.rglob("*") if "__pycache__" not in path.parts) == files
    conn, _ = checks.check_connection(empty_db, 3)  # the doctor's own session, as it opens it
    with conn:
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction), conn.transaction():
            conn.execute("CREATE TABLE intruder (id int)")
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction), conn.transaction():
            conn.execute("SET default_transaction_read_only = off")
            conn.execute("DROP TABLE users")


def test_password_never_printed(scratch, empty_db):
    roles = scenarios.migrate_as_owner_without_grants(scratch, empty_db)
    wrong = scenarios.wrong_password_url(scratch, empty_db)
    secrets = [roles.owner_password, urls.parse(wrong).password]
    reports = [triage(roles.owner_url, app_role=roles.app), triage(wrong),
               triage(f"postgresql://{roles.owner}:{roles.owner_password}@127.0.0.1:notaport/x"),
               triage(f"mysql://{roles.owner}:{roles.owner_password}@127.0.0.1/x")]
    assert [report.exit_code for report in reports] == [1, 1, 2, 2]
    assert reports[0].target == urls.masked(roles.owner_url) and ":***@" in reports[0].target
    for report in reports:
        for output in (report.text(), report.to_json()):
            assert not any(secret in output for secret in secrets), output
    cli = run_cli("--json", "--url", roles.owner_url, "--app-role", roles.app)
    assert cli.returncode == 1 and roles.owner_password not in cli.stdout + cli.stderr


def test_cli_exit_0_when_healthy(at_head):
    cli = run_cli("-c", "alembic.ini", env={"DATABASE_URL": at_head, "LANG": "C.UTF-8"})
    assert cli.returncode == 0, cli.stdout + cli.stderr
    assert cli.stdout.splitlines()[-1].startswith("healthy: 10 ok, 1 skipped;") and cli.stderr == ""


def test_cli_exit_1_with_json_and_chinese_links(empty_db):
    scenarios.create_tables_outside_alembic(empty_db)
    cli = run_cli("--json", "--lang", "zh", env={"DATABASE_URL": empty_db})
    assert cli.returncode == 1, cli.stdout + cli.stderr
    result = json.loads(cli.stdout)
    assert result["status"] == "findings" and result["exit_code"] == 1 and result["lang"] == "zh"
    finding = next(check for check in result["checks"] if check["status"] == FAIL)
    assert finding["id"] == "version-table" and finding["runbook"] == "already-exists"
    assert finding["url"] == problems.runbook_url("already-exists", "zh")
    assert finding["url"] == f"{problems.DOCS_URL}/runbooks/already-exists/"


def test_cli_exit_2_when_it_cannot_run(tmp_path):
    cli = run_cli("-c", str(tmp_path / "alembic.ini"), env={"DATABASE_URL": "postgresql://x@127.0.0.1/x"})
    assert cli.returncode == 2 and cli.stdout == ""
    assert cli.stderr.strip().endswith(f"could not run: {tmp_path / 'alembic.ini'}: no such file (pass -c "
                                       "path/to/alembic.ini)")
    as_json = run_cli("--json", "--url", "sqlite:///x.db")
    assert as_json.returncode == 2 and json.loads(as_json.stdout)["error"].startswith("unsupported driver 'sqlite' in --url")


def test_cli_options_in_process(at_head, capsys):
    from scryer_runbook import cli  # noqa: PLC0415

    assert cli.main(["doctor", "--url", at_head, "--lock-key", "none", "--metadata", "none", "--lang", "en"]) == 0
    out = capsys.readouterr().out
    assert "skip  migration-lock  not checked (--lock-key none)" in out
    assert "skip  drift           not compared (--metadata none)" in out
    assert cli.main(["doctor", "--url", at_head, "--metadata", "src.backend.app.models:Base", "--json"]) == 0
    drift = next(c for c in json.loads(capsys.readouterr().out)["checks"] if c["id"] == "drift")
    assert drift["summary"] == "the live schema matches the models (src.backend.app.models:Base)"
    with pytest.raises(SystemExit) as exit_:
        cli.main(["doctor", "--lock-key", "x"])
    assert exit_.value.code == 2 and "--lock-key: not an integer: 'x'" in capsys.readouterr().err


def test_language_of_the_links(empty_db, monkeypatch):
    scenarios.create_tables_outside_alembic(empty_db)
    zh = doctor.triage(empty_db, lang="zh")
    assert f"runbook: {problems.DOCS_URL}/runbooks/already-exists/" in zh.text()
    monkeypatch.setenv("LANG", "zh_CN.UTF-8")
    assert doctor.triage(empty_db).lang == "zh"
    monkeypatch.setenv("LANG", "en_US.UTF-8")
    en = doctor.triage(empty_db)
    assert en.lang == "en" and f"runbook: {problems.DOCS_URL}/en/runbooks/already-exists/" in en.text()


def break_a_revision(project: Path, old: str, new: str) -> None:
    path = project / "alembic" / "versions" / "003_add_tasks_table.py"
    path.write_text(path.read_text().replace(old, new, 1))


@pytest.mark.parametrize("how, reason", [
    ("no DATABASE_URL", "DATABASE_URL is not set (environment or .env)"),
    ("bad URL", "unsupported driver 'mysql' in --url"),
    ("no alembic.ini", "no such file (pass -c path/to/alembic.ini)"),
    ("syntax error", "the migration scripts could not be loaded: SyntaxError"),
    ("dangling down_revision", "the migration scripts could not be loaded: Revision 002_deleted referenced from "
                               "002_deleted -> 003_add_tasks_table (head), add tasks table is not present"),
    ("bad --metadata", "--metadata nosuchmodule:metadata: ModuleNotFoundError"),
])
def test_exit_2_names_the_reason(how, reason, tmp_path, monkeypatch):
    project, url, options = copy_project(tmp_path / "p"), os.environ["DATABASE_URL"], {}
    if how == "no DATABASE_URL":
        monkeypatch.delenv("DATABASE_URL")
        monkeypatch.chdir(tmp_path)  # and no .env here
        url = None
    elif how == "bad URL":
        url = "mysql://scryer@127.0.0.1/scryer"
    elif how == "no alembic.ini":
        (project / "alembic.ini").unlink()
    elif how == "syntax error":
        break_a_revision(project, "def upgrade() -> None:", "def upgrade( -> None:")
    elif how == "dangling down_revision":
        break_a_revision(project, '= "002_add_users_table"', '= "002_deleted"')
    else:
        options["metadata"] = "nosuchmodule:metadata"
    report = doctor.triage(url, project / "alembic.ini", lang="en", **options)
    assert report.exit_code == 2 and report.status == "error" and report.checks == []
    assert reason in report.error, report.error
    assert report.text().endswith(f"could not run: {report.error}")


# any Alembic project ----------------------------------------------------------------------------------------------


def test_any_alembic_project(empty_db, tmp_path):
    """A project from `alembic init` (the generic template): its own version table, no target_metadata, its own
    logging config. env.py is read offline and stops at configure(): the process's logging is left alone."""
    import logging  # noqa: PLC0415

    generic = tmp_path / "generic"
    generic.mkdir()
    alembic("init", "migrations", project=generic, check=True)
    ini = generic / "alembic.ini"
    url = urls.sqlalchemy(empty_db)
    ini.write_text(re.sub(r"(?m)^sqlalchemy\.url = .*$", f"sqlalchemy.url = {url}", ini.read_text())
                   .replace("prepend_sys_path = .", "prepend_sys_path = %(here)s"))
    env = generic / "migrations" / "env.py"
    env.write_text(env.read_text().replace("context.configure(", 'context.configure(version_table="generic_version", '))
    alembic("revision", "-m", "things", "--rev-id", "g001", project=generic, check=True)
    revision = generic / "migrations" / "versions" / "g001_things.py"
    revision.write_text(revision.read_text().replace(
        '"""Upgrade schema."""\n    pass',
        '"""Upgrade schema."""\n    op.create_table("things", sa.Column("id", sa.Integer, primary_key=True))'))
    handlers = logging.getLogger().handlers[:]

    report = doctor.triage(empty_db, ini, lang="en")
    assert_findings(report, {"revision": "run-migrations"})
    assert report.check("version-table").summary == "generic_version: no version table yet (nothing migrated here yet)"
    assert report.check("drift").summary == "not compared: env.py sets no target_metadata (pass --metadata module:attr)"
    assert logging.getLogger().handlers == handlers

    alembic("upgrade", "head", project=generic, check=True)
    report = doctor.triage(empty_db, ini, lang="en")
    assert_findings(report, {})
    assert report.check("version-table").summary == "generic_version: g001"

    (generic / "generic_models.py").write_text(
        "import sqlalchemy as sa\nmetadata = sa.MetaData()\n"
        "sa.Table('things', metadata, sa.Column('id', sa.Integer, primary_key=True), sa.Column('name', sa.Text))\n")
    report = doctor.triage(empty_db, ini, lang="en", metadata="generic_models:metadata")
    assert_findings(report, {"drift": "autogenerate-drift"})
    assert report.check("drift").evidence == ["add_column things.name TEXT"]
    assert "generic_models" not in sys.modules


# the site's samples -----------------------------------------------------------------------------------------------


DOCS = "http://127.0.0.1:8000"  # the site's address in the samples (`mkdocs serve`), whatever SCRYER_DOCS_URL says


def normalised(text: str) -> str:
    """normalise() would take the docs address for a server port: keep it out of its way."""
    return normalise(text.replace(problems.DOCS_URL, "{docs}")).replace("{docs}", DOCS)


def stable(text: str) -> str:
    """What may change from run to run: scratch names and ports (normalise), timings."""
    text = normalised(text)
    text = re.sub(r"\b\d+ ms\b", "N ms", text)
    return re.sub(r'"elapsed_ms": [\d.]+', '"elapsed_ms": 0', text)


def sample(report: doctor.Report, command: str, names: dict[str, str], as_json: bool = False) -> str:
    text = report.to_json() if as_json else f"$ {command}\n{report.text()}"
    for old, new in names.items():
        text = text.replace(old, new)
    return normalised(text) + "\n"


def check_sample(name: str, text: str) -> None:
    path = SNIPPETS / name
    if os.environ.get("SCRYER_UPDATE_SNIPPETS"):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    assert path.exists(), f"{path} missing: run with SCRYER_UPDATE_SNIPPETS=1"
    assert stable(path.read_text()) == stable(text), f"{name} is out of date: run with SCRYER_UPDATE_SNIPPETS=1"


def test_site_samples_are_real_output(scratch, empty_db):
    command = "scryer-runbook doctor --app-role scryer_app"
    roles = scenarios.migrate_as_owner_without_grants(scratch, empty_db)
    names = {roles.owner: "scryer_owner", roles.app: "scryer_app", database_name(empty_db): "scryer"}
    with admin(roles.owner_url) as owner:
        for statement in scenarios.least_privilege_grants(roles.owner, roles.app):
            owner.execute(statement)
    healthy = triage(roles.owner_url, app_role=roles.app)
    assert healthy.exit_code == 0
    check_sample("doctor-healthy.txt", sample(healthy, command, names))

    broken = scratch.database("test")  # the app ran create_all() as the owner; nobody granted the app role anything
    roles = scenarios.split_roles(scratch, broken)
    scenarios.create_tables_outside_alembic(roles.owner_url)
    names = {roles.owner: "scryer_owner", roles.app: "scryer_app", database_name(broken): "scryer"}
    findings = triage(roles.owner_url, app_role=roles.app)
    assert {check.id for check in findings.findings} == {"version-table", "app-role"}
    check_sample("doctor-findings.txt", sample(findings, command, names))
    findings_zh = doctor.triage(roles.owner_url, None, lang="zh", app_role=roles.app)  # for the 中文 page
    check_sample("doctor-findings-zh.txt", sample(findings_zh, f"{command} --lang zh", names))
    check_sample("doctor-findings.json", sample(findings, command, names, as_json=True))
