"""The doctor names every failure the runbooks reproduce, with the right runbook, and never writes.

Each test breaks a scratch database (or a throwaway copy of the scripts) with the same `scenarios` steps the
notebooks use, then asserts that exactly the expected checks report, each linking the expected page.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import json
import multiprocessing
import os
import re
import socket
import subprocess
import sys
import threading
import time
import zlib
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from scryer_runbook import catalogue, checks, diagnosis, doctor, problems, sandbox, scenarios, server, urls
from scryer_runbook.checks import FAIL, OK, SKIP, WARN
from scryer_runbook.notebooks import normalise
from scryer_runbook.project import REPO_ROOT, AlembicProject, alembic, copy_project, run
from tests.projects import NAMES as FIXTURE_PROJECTS
from tests.projects import copy_project as copy_fixture_project

HEAD = "004_index_tasks_created_at"
SNIPPETS = REPO_ROOT / "docs" / "snippets"
DB_CHECKS = [
    "server",
    "version-table",
    "revision",
    "version-width",
    "drift",
    "invalid-indexes",
    "migration-role",
    "app-role",
    "locks",
    "migration-lock",
]
SCRYER_LOCK_KEY = zlib.crc32(b"scryer:alembic") & 0x7FFFFFFF  # alembic/env.py's key


def triage(url: str, project: Path | None = None, **kwargs) -> doctor.Report:
    return doctor.triage(url, project / "alembic.ini" if project else None, lang="en", **kwargs)


def assert_findings(
    report: doctor.Report, expected: dict[str, str | None], warnings: dict | None = None
) -> None:
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
    return subprocess.run(
        [sys.executable, "-m", "scryer_runbook.cli", "doctor", *args],
        cwd=REPO_ROOT,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture
def at_head(head_db):
    return head_db


def admin(url: str) -> psycopg.Connection:
    return psycopg.connect(url, autocommit=True)


def database_name(url: str) -> str:
    return urls.parse(url).database


# healthy ----------------------------------------------------------------------------------------------------


def test_healthy_database_at_head(at_head):
    report = triage(at_head)
    assert_findings(report, {})
    assert {c.id: c.status for c in report.checks} == {
        "connection": OK,
        "server": OK,
        "scripts": OK,
        "version-table": OK,
        "revision": OK,
        "version-width": OK,
        "drift": OK,
        "invalid-indexes": OK,
        "migration-role": OK,
        "app-role": SKIP,
        "locks": OK,
        "migration-lock": OK,
    }
    assert report.check("revision").summary == f"at head {HEAD}"
    assert report.check("drift").summary.startswith(
        "the live schema matches the models (env.py's target_metadata"
    )
    assert report.text().splitlines()[-1].startswith("healthy: 11 ok, 1 skipped;")


def read_only_version_table(roles) -> None:
    """The app may read alembic_version (a health check does), never write it."""
    with admin(roles.owner_url) as owner:
        owner.execute(
            sql.SQL("REVOKE INSERT, UPDATE, DELETE ON alembic_version FROM {}").format(
                sql.Identifier(roles.app)
            )
        )


def test_healthy_with_owner_and_app_roles(scratch, empty_db):
    roles = scenarios.migrate_as_owner_without_grants(scratch, empty_db)
    with admin(roles.owner_url) as owner:
        for statement in scenarios.least_privilege_grants(roles.owner, roles.app):
            owner.execute(statement)
    read_only_version_table(roles)
    report = triage(roles.owner_url, app_role=roles.app)
    assert_findings(report, {})
    assert report.check("app-role").status == OK and report.check("migration-role").status == OK
    assert (
        report.check("migration-role").summary
        == f"{roles.owner} owns every object in public and may create there"
    )


# reaching the server ----------------------------------------------------------------------------------------


def assert_connection_finding(report: doctor.Report, kind: str, runbook: str) -> None:
    assert_findings(report, {"connection": runbook})
    assert report.check("connection").evidence[0].startswith(f"{kind}: ")
    assert report.check("scripts").status == OK  # the project is still read
    assert all(report.check(check_id).status == SKIP for check_id in DB_CHECKS)


@pytest.mark.parametrize(
    "kind", ["refused", "unresolved", "database-missing", "password", "no-connect", "role-missing"]
)
def test_connection_failures(kind, scratch):
    with contextlib.ExitStack() as stack:
        report = triage(connection_failure_url(kind, scratch, stack))
    assert_connection_finding(report, kind, "permissions" if kind == "no-connect" else "not-ready")


def connection_failure_url(kind: str, scratch, stack: contextlib.ExitStack) -> str:
    if kind == "refused":
        url = f"postgresql://postgres@127.0.0.1:{scenarios.unused_port()}/postgres"
    elif kind == "unresolved":
        url = "postgresql://scryer@nosuchhost.invalid:5432/scryer"
    elif kind == "database-missing":
        url = scenarios.missing_database_url(scratch.admin_url)
    elif kind == "password":
        url = stack.enter_context(scenarios.wrong_password_url(scratch, scratch.database("pw")))
    elif kind == "no-connect":
        database = scratch.database("noconnect")
        role, password = scratch.role("noconnect")
        with admin(scratch.admin_url) as conn:
            conn.execute(
                sql.SQL("REVOKE CONNECT ON DATABASE {} FROM PUBLIC").format(
                    sql.Identifier(database_name(database))
                )
            )
        url = sandbox.as_role(database, role, password)
    else:  # over the Unix socket (trust) the server says so; over TCP with a password it would not tell
        with admin(scratch.admin_url) as conn:
            sockets = conn.execute("SHOW unix_socket_directories").fetchone()[0]
            port = conn.info.port
        url = f"postgresql://nosuchrole@/postgres?host={sockets}&port={port}"
    return url


def test_connection_timeout():
    """Something accepts the TCP connection and never answers (a black-holing firewall, a hung proxy)."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        started = time.monotonic()
        report = triage(f"postgresql://scryer@127.0.0.1:{silent.getsockname()[1]}/scryer", connect_timeout=2)
    assert_connection_finding(report, "timeout", "not-ready")
    assert time.monotonic() - started < 5


@pytest.mark.slow  # a server in each state
@pytest.mark.parametrize("state", sorted(scenarios.NOT_ACCEPTING_STATES))
def test_server_up_but_not_accepting(state):
    with scenarios.server_in_state(state) as url:
        report = triage(url)
    assert_connection_finding(report, state, "not-ready")
    assert scenarios.NOT_ACCEPTING_STATES[state][1] in report.check("connection").evidence[0]


# the server -------------------------------------------------------------------------------------------------


def test_read_only_by_default(at_head):
    with admin(at_head) as conn:
        conn.execute(
            sql.SQL("ALTER DATABASE {} SET default_transaction_read_only = on").format(
                sql.Identifier(database_name(at_head))
            )
        )
    report = triage(at_head)
    assert_findings(report, {"server": "not-ready"})
    assert report.check("server").evidence == ["ALTER DATABASE ... SET default_transaction_read_only=on"]
    stamp = alembic("stamp", "003_add_tasks_table", url=at_head)  # the migration tool really cannot write
    assert stamp.returncode != 0 and "read-only transaction" in stamp.output


@pytest.mark.slow  # a standby server of its own
def test_read_only_standby():
    """A hot standby: it answers and serves reads, but no migration can run there."""
    srv = server.start_server()
    try:
        alembic("upgrade", "head", url=srv.url, check=True)
        user = server.server_account()  # the account the server runs as
        (srv.datadir / "standby.signal").write_text("")
        if user:
            os.chown(srv.datadir / "standby.signal", user.pw_uid, user.pw_gid)
        pg_ctl = [str(srv.bindir / "pg_ctl"), "-D", str(srv.datadir), "-l", str(srv.root / "server.log")]
        server.run_as_user(
            [*pg_ctl, "-m", "fast", "-w", "restart"],
            user,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        report = triage(srv.url)
    finally:
        srv.stop()
    assert_findings(report, {"server": "not-ready"})
    assert report.check("server").evidence == ["pg_is_in_recovery() = true"]


# Alembic state ----------------------------------------------------------------------------------------------


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
    tables, schema, advice, data = report.check("version-table").evidence
    assert tables == "tables: tasks, users"
    assert schema == "the live schema matches the models at head; that does not prove every revision ran"
    assert advice.startswith("do not `alembic stamp head`: find the revision the schema matches")
    assert "already-exists runbook" in advice and "`alembic stamp head`, then" not in report.text()
    assert data.startswith("no revision changes data")


def test_partial_schema_without_version_table(empty_db):
    """The case where the guide's `stamp head` loses revisions: the doctor says not to."""
    scenarios.schema_at_revision_without_version(empty_db, "002_add_users_table")
    report = triage(empty_db)
    assert_findings(report, {"version-table": "already-exists"})
    tables, verdict, advice, _data = report.check("version-table").evidence
    assert tables == "tables: users"
    assert "add_table tasks" in verdict and "a partial schema" in verdict
    assert advice.startswith("do not `alembic stamp head`")


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
    alembic(
        "revision",
        "-m",
        "add column on another branch",
        "--rev-id",
        "005_other_branch",
        project=other_branch,
        check=True,
    )
    alembic("upgrade", "head", url=empty_db, project=other_branch, check=True)
    report = triage(empty_db)  # this repository's scripts
    assert_findings(report, {"version-table": "database-ahead"})
    assert (
        "\"Can't locate revision identified by '005_other_branch'\"" in report.check("version-table").summary
    )
    upgrade = alembic("upgrade", "head", url=empty_db)
    assert upgrade.returncode != 0
    assert "FAILED: Can't locate revision identified by '005_other_branch'" in upgrade.output


def test_behind_head(empty_db):
    alembic("upgrade", "002_add_users_table", url=empty_db, check=True)
    report = triage(empty_db)
    assert_findings(report, {"revision": "run-migrations"})
    assert report.check("revision").evidence == [
        "current: 002_add_users_table",
        f"pending: 003_add_tasks_table, {HEAD}",
    ]
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
    assert report.check("version-table").summary == (
        "alembic_version: no version table yet (nothing migrated here yet; 1 tables of something else)"
    )
    assert report.check("revision").summary.startswith("nothing migrated yet: 4 revisions pending")


def test_revision_id_too_long_for_version_table(at_head, tmp_path):
    project = copy_project(tmp_path)
    long_id = (
        "005_add_users_last_login_timestamp"  # 34 characters; alembic_version.version_num is varchar(32)
    )
    alembic("revision", "-m", "long id", "--rev-id", long_id, project=project, check=True)
    report = triage(at_head, project)
    assert_findings(report, {"revision": "run-migrations", "version-width": "version-too-long"})
    assert report.check("version-width").evidence == [f"{long_id} (34 characters)"]
    upgrade = alembic("upgrade", "head", url=at_head, project=project)
    assert upgrade.returncode != 0 and "value too long for type character varying(32)" in upgrade.output


# drift ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "edit, expected",
    [
        (scenarios.rename_username_to_login, ["add_column users.login", "remove_column users.username"]),
        (scenarios.add_server_default_to_is_active, ["modify_default users.is_active"]),
    ],
)
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


# privileges -------------------------------------------------------------------------------------------------


def test_app_role_without_grants(scratch, empty_db):
    roles = scenarios.migrate_as_owner_without_grants(scratch, empty_db)
    report = triage(roles.owner_url, app_role=roles.app)
    assert_findings(report, {"app-role": "permissions"})
    assert report.check("app-role").evidence == [
        f"no SELECT, INSERT, UPDATE, DELETE on table {table}" for table in ("tasks", "users")
    ]
    with psycopg.connect(roles.app_url) as app, pytest.raises(psycopg.errors.InsufficientPrivilege):
        app.execute("SELECT * FROM users")


def grants(roles, *indexes: int) -> None:
    statements = scenarios.least_privilege_grants(roles.owner, roles.app)
    with admin(roles.owner_url) as owner:
        for index in indexes:
            owner.execute(statements[index])
    read_only_version_table(roles)


def test_app_role_without_sequence_grant(scratch, empty_db):
    """A sequence the app calls nextval() on (created by a migration's op.execute; autogenerate cannot see it)."""
    roles = scenarios.migrate_as_owner_without_grants(scratch, empty_db)
    grants(roles, 0, 1, 3)  # schema, tables, default privileges on tables: no sequence grants
    with admin(roles.owner_url) as owner:
        owner.execute("CREATE SEQUENCE invoice_numbers")
    report = triage(roles.owner_url, app_role=roles.app)
    assert_findings(report, {"app-role": "permissions"})
    assert report.check("app-role").evidence == ["no USAGE, SELECT on sequence invoice_numbers"]
    with (
        psycopg.connect(roles.app_url) as app,
        pytest.raises(psycopg.errors.InsufficientPrivilege, match="permission denied for sequence"),
    ):
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
        f"no ALTER DEFAULT PRIVILEGES FOR ROLE {roles.owner} IN SCHEMA public GRANT ... ON TABLES TO {roles.app}"
    ]
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
    assert check.summary == (
        f'{roles.app} cannot run migrations here: no CREATE on schema public ("permission '
        'denied for schema public"); does not own 3 objects it must alter ("must be owner '
        'of table ...")'
    )
    assert check.evidence == [
        f"table {table} is owned by {roles.owner}" for table in ("alembic_version", "tasks", "users")
    ]
    with (
        psycopg.connect(roles.app_url) as app,
        pytest.raises(psycopg.errors.InsufficientPrivilege, match="must be owner of table users"),
    ):
        app.execute("ALTER TABLE users ADD COLUMN x int")


# locks ------------------------------------------------------------------------------------------------------


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
    assert_findings(report, {"locks": "migration-blocked"})
    evidence = report.check("locks").evidence
    assert any(
        f"waits for AccessExclusiveLock on users, blocked by pid {pid}" in line for line in evidence
    ), evidence
    assert any(
        f"pid {pid} " in line
        and "is idle in transaction" in line
        and "holding AccessShareLock on users" in line
        for line in evidence
    ), evidence


def test_long_transaction_holding_a_table_lock_warns(at_head, monkeypatch):
    """A long report query keeps AccessShareLock on users: not blocking yet, but DDL would queue behind it."""
    monkeypatch.setattr(checks, "LONG_TRANSACTION_SECONDS", 0)  # instead of waiting a minute
    with psycopg.connect(at_head) as reporting:
        pid = reporting.info.backend_pid
        running = threading.Thread(
            target=lambda: reporting.execute("SELECT count(*) FROM users, pg_sleep(3)")
        )
        running.start()
        try:
            with admin(at_head) as conn:
                deadline = time.monotonic() + 10
                while not conn.execute(
                    "SELECT count(*) FROM pg_locks WHERE pid = %s AND relation = 'users'::regclass", [pid]
                ).fetchone()[0]:
                    assert time.monotonic() < deadline, "the report query never started"
                    time.sleep(0.02)
            report = triage(at_head)
        finally:
            running.join()
    assert_findings(report, {}, warnings={"locks": "migration-blocked"})
    assert any(
        "in a transaction for" in line and "holding AccessShareLock on users" in line
        for line in report.check("locks").evidence
    ), report.check("locks").evidence


@pytest.mark.parametrize("key", [SCRYER_LOCK_KEY, -5, 9_000_000_000])  # another project's key: --lock-key
def test_migration_lock_held(key, at_head):
    """A session holds the migration lock and sits idle (a stuck deploy step, a backend that outlived its client)."""
    env_py = (REPO_ROOT / "alembic" / "env.py").read_text()
    assert 'MIGRATION_LOCK_KEY = zlib.crc32(b"scryer:alembic") & 0x7FFFFFFF' in env_py  # = SCRYER_LOCK_KEY
    assert (
        diagnosis.load_project(REPO_ROOT / "alembic.ini").lock_key == SCRYER_LOCK_KEY
    )  # alembic.ini names it
    with admin(at_head) as holder:
        holder.execute("SELECT pg_advisory_lock(%s)", [key])
        pid = holder.info.backend_pid
        report = triage(at_head, lock_key=key)
    assert_findings(report, {"migration-lock": "migration-blocked"})
    assert report.check("migration-lock").evidence[0].startswith(f"pid {pid} (postgres")


def test_real_migration_waiting_behind_an_app_transaction(empty_db):
    """`alembic upgrade head` holds the migration lock while its CREATE INDEX waits for another session's lock."""
    alembic("upgrade", "003_add_tasks_table", url=empty_db, check=True)
    app = psycopg.connect(empty_db)
    # What a running VACUUM, ANALYZE or index build holds: 004's CREATE INDEX CONCURRENTLY waits for it on tasks.
    app.execute("LOCK TABLE tasks IN SHARE UPDATE EXCLUSIVE MODE")
    migration = subprocess.Popen(
        [sys.executable, "-m", "alembic", "upgrade", "head"],
        cwd=REPO_ROOT,
        env={**os.environ, "DATABASE_URL": empty_db, "MIGRATION_LOCK_TIMEOUT": "30s"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        with admin(empty_db) as conn:
            deadline = time.monotonic() + 20
            while not conn.execute(
                "SELECT count(*) FROM pg_locks WHERE NOT granted AND relation = 'tasks'::regclass"
            ).fetchone()[0]:
                assert time.monotonic() < deadline and migration.poll() is None, "the migration never waited"
                time.sleep(0.05)
        report = triage(empty_db)
    finally:
        app.rollback()
        app.close()
        output = migration.communicate(timeout=30)[0]
    assert migration.returncode == 0, output
    assert_findings(
        report,
        {"revision": "run-migrations", "locks": "migration-blocked", "migration-lock": "migration-blocked"},
    )
    assert (
        report.check("migration-lock").evidence[0].endswith(", active")
        or ", active, for" in report.check("migration-lock").evidence[0]
    )
    assert any(
        "waits for ShareUpdateExclusiveLock on tasks" in line for line in report.check("locks").evidence
    )


# read-only, passwords, exit codes, languages ----------------------------------------------------------------


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

    monkeypatch.setattr(
        psycopg, "connect", recording_connect
    )  # diagnosis.connect and SQLAlchemy's dialect both
    report = triage(empty_db, project, app_role="postgres")
    monkeypatch.undo()
    assert report.check("version-table").status == FAIL and report.check("drift").status == SKIP
    assert len(opened) == 2 and all("default_transaction_read_only=on" in options for options in opened), (
        opened
    )
    with diagnosis.connect(empty_db) as conn:
        assert (diagnosis.schema_snapshot(conn), diagnosis.version_rows(conn)) == before
    assert sorted(path for path in project.rglob("*") if "__pycache__" not in path.parts) == files
    ctx = checks.Context.open(
        empty_db, diagnosis.load_project(REPO_ROOT / "alembic.ini")
    )  # the doctor's session
    with ctx.conn as conn:
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction), conn.transaction():
            conn.execute("CREATE TABLE intruder (id int)")
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction), conn.transaction():
            conn.execute("SET default_transaction_read_only = off")
            conn.execute("DROP TABLE users")


def test_password_never_printed(scratch, empty_db):
    roles = scenarios.migrate_as_owner_without_grants(scratch, empty_db)
    with scenarios.wrong_password_url(scratch, empty_db) as wrong:
        secrets = [roles.owner_password, urls.parse(wrong).password]
        refused = triage(wrong)
    reports = [
        triage(roles.owner_url, app_role=roles.app),
        refused,
        triage(f"postgresql://{roles.owner}:{roles.owner_password}@127.0.0.1:notaport/x"),
        triage(f"mysql://{roles.owner}:{roles.owner_password}@127.0.0.1/x"),
    ]
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
    assert cli.stdout.splitlines()[-1].startswith("healthy: 11 ok, 1 skipped;") and cli.stderr == ""


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
    assert cli.stderr.strip().endswith(
        f"could not run: {tmp_path / 'alembic.ini'}: no such file (pass -c path/to/alembic.ini)"
    )
    as_json = run_cli("--json", "--url", "sqlite:///x.db")
    assert as_json.returncode == 2 and json.loads(as_json.stdout)["error"].startswith(
        "unsupported driver 'sqlite' in --url"
    )


def test_cli_options_in_process(at_head, capsys):
    from scryer_runbook import cli  # noqa: PLC0415

    assert (
        cli.main(["doctor", "--url", at_head, "--lock-key", "none", "--metadata", "none", "--lang", "en"])
        == 0
    )
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
    assert f"Runbook：{problems.DOCS_URL}/runbooks/already-exists/" in zh.text()
    monkeypatch.setenv("LANG", "zh_CN.UTF-8")
    assert doctor.triage(empty_db).lang == "zh"
    monkeypatch.setenv("LANG", "en_US.UTF-8")
    en = doctor.triage(empty_db)
    assert en.lang == "en" and f"runbook: {problems.DOCS_URL}/en/runbooks/already-exists/" in en.text()


def break_a_revision(project: Path, old: str, new: str) -> None:
    path = project / "alembic" / "versions" / "003_add_tasks_table.py"
    path.write_text(path.read_text().replace(old, new, 1))


@pytest.mark.parametrize(
    "how, reason",
    [
        ("no DATABASE_URL", "DATABASE_URL is not set (environment or .env)"),
        ("bad URL", "unsupported driver 'mysql' in --url"),
        ("no alembic.ini", "no such file (pass -c path/to/alembic.ini)"),
        ("syntax error", "the migration scripts could not be loaded: SyntaxError"),
        (
            "dangling down_revision",
            "the migration scripts could not be loaded: Revision 002_deleted referenced from "
            "002_deleted -> 003_add_tasks_table (head), add tasks table is not present",
        ),
        ("bad --metadata", "--metadata nosuchmodule:metadata: ModuleNotFoundError"),
    ],
)
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


# any Alembic project ----------------------------------------------------------------------------------------


def test_any_alembic_project(empty_db, tmp_path):
    """A project from `alembic init` (the generic template): its own version table, no target_metadata, its
    own logging config. env.py is read offline and stops at configure(): the process's logging is left alone."""
    import logging  # noqa: PLC0415

    ini = generic_project(tmp_path / "generic", empty_db)
    generic = ini.parent
    handlers = logging.getLogger().handlers[:]

    report = doctor.triage(empty_db, ini, lang="en")
    assert_findings(report, {"revision": "run-migrations"})
    assert (
        report.check("version-table").summary
        == "generic_version: no version table yet (nothing migrated here yet)"
    )
    assert (
        report.check("drift").summary
        == "not compared: env.py sets no target_metadata (pass --metadata module:attr)"
    )
    assert report.check("migration-lock").summary.startswith(
        "does not apply: the project names no migration lock"
    )
    assert logging.getLogger().handlers == handlers

    alembic("upgrade", "head", project=generic, url=empty_db, check=True)
    report = doctor.triage(empty_db, ini, lang="en")
    assert_findings(report, {})
    assert report.check("version-table").summary == "generic_version: g001"

    (generic / "generic_models.py").write_text(
        "import sqlalchemy as sa\nmetadata = sa.MetaData()\n"
        "sa.Table('things', metadata, sa.Column('id', sa.Integer, primary_key=True), sa.Column('name', sa.Text))\n"
    )
    report = doctor.triage(empty_db, ini, lang="en", metadata="generic_models:metadata")
    assert_findings(report, {"drift": "autogenerate-drift"})
    assert report.check("drift").evidence == ["add_column things.name TEXT"]
    assert "generic_models" not in sys.modules


# the site's samples -----------------------------------------------------------------------------------------


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
    assert stable(path.read_text()) == stable(text), (
        f"{name} is out of date: run with SCRYER_UPDATE_SNIPPETS=1"
    )


def test_site_samples_are_real_output(scratch, empty_db):
    command = "scryer-runbook doctor --app-role scryer_app"
    roles = scenarios.migrate_as_owner_without_grants(scratch, empty_db)
    names = {roles.owner: "scryer_owner", roles.app: "scryer_app", database_name(empty_db): "scryer"}
    with admin(roles.owner_url) as owner:
        for statement in scenarios.least_privilege_grants(roles.owner, roles.app):
            owner.execute(statement)
    read_only_version_table(roles)
    healthy = triage(roles.owner_url, app_role=roles.app)
    assert healthy.exit_code == 0
    check_sample("doctor-healthy.txt", sample(healthy, command, names))

    broken = scratch.database(
        "test"
    )  # the app ran create_all() as the owner; nobody granted the app role anything
    roles = scenarios.split_roles(scratch, broken)
    scenarios.create_tables_outside_alembic(roles.owner_url)
    names = {roles.owner: "scryer_owner", roles.app: "scryer_app", database_name(broken): "scryer"}
    findings = triage(roles.owner_url, app_role=roles.app)
    assert {check.id for check in findings.findings} == {"version-table", "app-role"}
    check_sample("doctor-findings.txt", sample(findings, command, names))
    findings_zh = doctor.triage(roles.owner_url, None, lang="zh", app_role=roles.app)  # for the 中文 page
    check_sample("doctor-findings-zh.txt", sample(findings_zh, f"{command} --lang zh", names))
    check_sample("doctor-findings.json", sample(findings, command, names, as_json=True))


# issue 9 and 10: locks never waited on, blind runs never healthy, no `stamp head`, the version table read-only


def in_thread(url: str, *statements: str) -> tuple[psycopg.Connection, threading.Thread]:
    """A session that runs ``statements`` in one transaction from a thread (the last one may block or sleep)."""
    conn = psycopg.connect(url)

    def run() -> None:
        with contextlib.suppress(psycopg.errors.QueryCanceled):  # the test cancels it when done
            for statement in statements:
                conn.execute(statement)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return conn, thread


def wait_for_lock(url: str, pid: int, table: str) -> None:
    with admin(url) as conn:
        deadline = time.monotonic() + 10
        while not conn.execute(
            "SELECT count(*) FROM pg_locks WHERE pid = %s AND granted AND relation = to_regclass(%s)",
            [pid, table],
        ).fetchone()[0]:
            assert time.monotonic() < deadline, f"pid {pid} never locked {table}"
            time.sleep(0.02)


@pytest.mark.parametrize(
    "table, blocked",
    [("users", []), ("tasks", ["drift"]), ("alembic_version", ["version-table", "revision", "drift"])],
)
def test_exclusive_lock_held_inside_a_running_statement(table, blocked, at_head):
    """ACCESS EXCLUSIVE held by a session whose statement is still running: seen at once, whatever its age;
    the checks whose queries wait on it (reflecting tasks' server default, reading the version table) give up
    after the lock timeout and say so; nothing says ok about what it could not read."""
    holder, thread = in_thread(at_head, f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE", "SELECT pg_sleep(20)")
    pid = holder.info.backend_pid
    try:
        wait_for_lock(at_head, pid, table)
        started = time.monotonic()
        report = triage(at_head)
        took = time.monotonic() - started
    finally:
        holder.cancel_safe()
        thread.join(timeout=10)
        holder.close()
    assert took < 8, report.text()
    assert report.exit_code == 1 and report.status == "findings", report.text()
    locks = report.check("locks")
    assert locks.status == FAIL and locks.link == "migration-blocked"
    assert any(
        f"pid {pid} " in line and f"holds AccessExclusiveLock on {table} (active)" in line
        for line in locks.evidence
    ), locks.evidence
    for check_id in blocked:
        check = report.check(check_id)
        assert (check.status, check.summary) == (
            FAIL,
            "could not check: gave up waiting for a lock (see locks)",
        ), report.text()
        assert check.blind and "lock timeout" in check.evidence[0]
    assert [check.id for check in report.blind] == blocked
    assert not report.text().splitlines()[-1].startswith("healthy")


def test_migration_lock_held_the_doctor_does_not_wait(at_head):
    """A migration holds the advisory lock (and every `alembic` command would queue on it): the doctor reads
    pg_locks, finishes in well under the lock's wait, and names the holder."""
    with admin(at_head) as holder:
        holder.execute("SELECT pg_advisory_lock(%s)", [SCRYER_LOCK_KEY])
        started = time.monotonic()
        report = triage(at_head)
        took = time.monotonic() - started
    assert took < 5, report.text()
    assert_findings(report, {"migration-lock": "migration-blocked"})
    assert report.check("migration-lock").summary.startswith(
        f"the migration lock ({SCRYER_LOCK_KEY}) is held: a migration is running or stuck"
    )


def test_invalid_index_left_by_a_failed_concurrent_build(at_head):
    with admin(at_head) as conn:
        conn.execute(
            "INSERT INTO users (id, username, email, is_active) VALUES (gen_random_uuid(), 'a', 'a@x', true),"
            " (gen_random_uuid(), 'b', 'b@x', true)"
        )
        with pytest.raises(psycopg.errors.UniqueViolation):
            conn.execute("CREATE UNIQUE INDEX CONCURRENTLY ix_users_is_active ON users (is_active)")
    report = triage(at_head, metadata="none")
    assert_findings(report, {"invalid-indexes": catalogue.runbook_for("invalid-indexes") or "best-practices"})
    evidence = report.check("invalid-indexes").evidence
    assert evidence == ["ix_users_is_active on users: DROP INDEX CONCURRENTLY public.ix_users_is_active"]
    with admin(at_head) as conn:
        conn.execute(evidence[0].split(": ", 1)[1])  # the statement the doctor prints is the fix
    assert_findings(triage(at_head, metadata="none"), {})


def test_app_role_that_can_write_the_version_table(scratch, empty_db):
    """`GRANT ... ON ALL TABLES` also lets the app move alembic_version: reported, with the REVOKE that fixes it."""
    roles = scenarios.migrate_as_owner_without_grants(scratch, empty_db)
    with admin(roles.owner_url) as owner:
        for statement in scenarios.least_privilege_grants(roles.owner, roles.app):
            owner.execute(statement)
        owner.execute(
            sql.SQL("GRANT INSERT, UPDATE, DELETE ON alembic_version TO {}").format(sql.Identifier(roles.app))
        )
    with psycopg.connect(roles.app_url) as app:  # the harm: the app can make Alembic skip or repeat revisions
        app.execute("UPDATE alembic_version SET version_num = '002_add_users_table'")
        app.rollback()
    report = triage(roles.owner_url, app_role=roles.app)
    assert_findings(report, {"app-role": "permissions"})
    check = report.check("app-role")
    assert check.finding == "app-role:writes-version-table"
    assert check.evidence == [f"REVOKE INSERT, UPDATE, DELETE ON public.alembic_version FROM {roles.app}"]
    with admin(roles.owner_url) as owner:
        owner.execute(check.evidence[0])
    assert_findings(triage(roles.owner_url, app_role=roles.app), {})


def add_revision(project: Path, rev_id: str, upgrade: str) -> Path:
    alembic("revision", "-m", rev_id, "--rev-id", rev_id, project=project, check=True)
    path = project / "alembic" / "versions" / f"{rev_id}.py"
    path.write_text(
        re.sub(
            r"def upgrade\(\) -> None:\n(.*?)\n\n",
            f"def upgrade() -> None:\n{upgrade}\n\n\n",
            path.read_text(),
            count=1,
            flags=re.S,
        )
    )
    return path


def test_revisions_that_change_data_are_named_before_any_stamp(empty_db, tmp_path):
    """Stamping over a data migration skips it, and no schema comparison can tell: the doctor names them."""
    project = copy_project(tmp_path)
    add_revision(
        project,
        "005_backfill",
        '    op.execute("UPDATE users SET is_active = true WHERE is_active IS NULL")\n'
        '    op.execute("CREATE INDEX ix_users_email ON users (email)")',
    )
    add_revision(
        project,
        "006_seed",
        "    op.bulk_insert(sa.table('users', sa.column('username')), [{'username': 'admin'}])",
    )
    script = diagnosis.scripts(diagnosis.alembic_config(project / "alembic.ini"))
    assert diagnosis.data_changing_revisions(script) == [
        ("005_backfill", ['op.execute("UPDATE users SET is_active = true WHERE is_active IS NULL")']),
        ("006_seed", ["op.bulk_insert(sa.table('users', sa.column('username')), [{'username': 'admin'}])"]),
    ]
    scenarios.create_tables_outside_alembic(empty_db)
    report = triage(empty_db, project, metadata="none")
    assert_findings(report, {"version-table": "already-exists"})
    data = report.check("version-table").evidence[-1]
    assert data.startswith("revisions that change data, skipped for good by a stamp over them")
    assert '005_backfill: op.execute("UPDATE users' in data and "006_seed: op.bulk_insert(" in data
    assert "stamp head`:" in report.text() and "`alembic stamp head`, then" not in report.text()


def generic_project(root: Path, url: str, env_edit=None) -> Path:
    """`alembic init` (the generic template) with its own version table and one revision; returns the ini."""
    root.mkdir()
    init = run([sys.executable, "-m", "alembic", "init", "migrations"], cwd=root)
    assert init.returncode == 0, init.output
    ini = root / "alembic.ini"
    ini.write_text(
        re.sub(
            r"(?m)^sqlalchemy\.url = .*$", f"sqlalchemy.url = {urls.sqlalchemy(url)}", ini.read_text()
        ).replace("prepend_sys_path = .", "prepend_sys_path = %(here)s")
    )
    env = root / "migrations" / "env.py"
    env.write_text(
        env.read_text().replace("context.configure(", 'context.configure(version_table="generic_version", ')
    )
    alembic("revision", "-m", "things", "--rev-id", "g001", project=root, url=url, check=True)
    revision = root / "migrations" / "versions" / "g001_things.py"
    revision.write_text(
        revision.read_text().replace(
            '"""Upgrade schema."""\n    pass',
            '"""Upgrade schema."""\n    op.create_table("things", sa.Column("id", sa.Integer, primary_key=True))',
        )
    )
    return ini


@pytest.mark.parametrize("strict", [False, True])
def test_blind_when_env_py_cannot_be_read(strict, empty_db, tmp_path):
    """env.py fails offline (a settings module missing here): the version table's name is read from its
    source, drift cannot be checked, and the run is "incomplete", exit 3, never "healthy", with or without
    --strict."""
    ini = generic_project(tmp_path / "generic", empty_db)
    alembic("upgrade", "head", project=ini.parent, url=empty_db, check=True)
    env = ini.parent / "migrations" / "env.py"
    env.write_text("import app_settings_that_need_the_environment  # noqa\n" + env.read_text())
    report = doctor.triage(empty_db, ini, lang="en", strict=strict)
    text = report.text()
    assert report.status == "incomplete" and report.exit_code == 3, text
    assert report.check("version-table").summary == "generic_version: g001"  # not "already exists"
    drift = report.check("drift")
    assert drift.status == SKIP and drift.blind
    assert (
        "env.py could not be read offline (ModuleNotFoundError: No module named "
        "'app_settings_that_need_the_environment')" in drift.summary
    )
    assert text.splitlines()[-1].startswith("incomplete, not healthy: drift could not be checked;")
    assert text.splitlines()[-1].endswith("exit 3") and not any(
        line.startswith("healthy") for line in text.splitlines()
    )
    assert json.loads(report.to_json())["status"] == "incomplete"

    env.write_text(env.read_text().replace('version_table="generic_version"', "version_table=VERSION_TABLE"))
    report = doctor.triage(empty_db, ini, lang="en", strict=strict)
    assert report.exit_code == 3 and report.check("version-table").status == SKIP, report.text()
    assert "does not name its version table literally" in report.check("version-table").summary
    assert [check.id for check in report.blind] == ["version-table", "revision", "drift"]


def test_relative_script_location_from_another_directory(empty_db, tmp_path, monkeypatch):
    """`script_location = alembic` in backend/alembic.ini works only from backend/: the doctor reads it from
    the ini's folder, says so, and prints commands that run from there."""
    backend = copy_project(tmp_path / "backend")
    ini = backend / "alembic.ini"
    ini.write_text(ini.read_text().replace("script_location = %(here)s/alembic", "script_location = alembic"))
    alembic("upgrade", "002_add_users_table", url=empty_db, project=backend, check=True)
    monkeypatch.chdir(tmp_path)
    report = doctor.triage(empty_db, Path("backend/alembic.ini"), lang="en")
    assert report.cli == "cd backend && alembic"
    assert report.notes == [
        "script_location alembic does not exist from the current directory; read from backend "
        "(run alembic there)"
    ]
    assert_findings(report, {"revision": "run-migrations"})
    assert (
        "`cd backend && alembic upgrade head` has not run since they were added"
        in report.check("revision").summary
    )
    assert "note: script_location alembic does not exist" in report.text()


def test_custom_version_table_and_schema_same_answer_as_the_notebooks(empty_db, tmp_path):
    """diagnosis.version_rows/app_tables (what the notebooks call) and the doctor read the same version table."""
    ini = generic_project(tmp_path / "generic", empty_db)
    env = ini.parent / "migrations" / "env.py"
    env.write_text(
        env.read_text().replace(
            'version_table="generic_version", ',
            'version_table="generic_version", version_table_schema="meta", ',
        )
    )
    with admin(empty_db) as conn:
        conn.execute("CREATE SCHEMA meta")
    alembic("upgrade", "head", project=ini.parent, url=empty_db, check=True)
    project = diagnosis.load_project(ini)
    assert (project.version_table, project.version_schema) == ("generic_version", "meta")
    with diagnosis.connect(empty_db) as conn:
        rows = diagnosis.version_rows(conn, project.version_table, project.version_schema)
        assert diagnosis.version_rows(conn) is None  # Alembic's default name: not this project's table
        assert diagnosis.app_tables(conn) == ["things"]
    report = doctor.triage(empty_db, ini, lang="en")
    assert rows == ["g001"] and report.check("version-table").summary == "generic_version: g001"
    assert_findings(report, {})


def english_sentences(text: str) -> list[str]:
    """Runs of three or more lower-case English words, outside identifiers, `code`, "quoted" texts and URLs."""
    text = re.sub(r"`[^`]*`|\"[^\"]*\"|https?://\S+|\S*[_./:]\S*", " ", text)
    return re.findall(r"\b[a-z]{2,}(?:\s+[a-z]{2,}){2,}\b", text)


def test_chinese_report_has_no_english_sentence(scratch, tmp_path):
    """`doctor --lang zh` on a broken database: every line in 中文 (identifiers, SQL and quoted errors excepted)."""
    broken = scratch.database("test")
    roles = scenarios.split_roles(scratch, broken)
    scenarios.create_tables_outside_alembic(roles.owner_url)
    with admin(roles.owner_url) as owner:
        owner.execute("CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS ix_ok ON users (email)")
    report = doctor.triage(roles.owner_url, None, lang="zh", app_role=roles.app, lock_key=-5)
    assert report.exit_code == 1
    text = report.text()
    human = [report.text()] + [
        part for check in report.as_dict()["checks"] for part in [check["summary"], *check["evidence"]]
    ]
    found = [sentence for part in human for sentence in english_sentences(part)]
    assert not found, f"{found}\n{text}"
    assert "不要执行 `alembic stamp head`" in text and "项发现" in text.splitlines()[-1]
    assert english_sentences("the live schema matches the models") == ["the live schema matches the models"]


def test_every_doctor_message_has_a_chinese_translation():
    """Each msgid in the doctor's modules (Babel's extractor) is in locale/zh/doctor.po."""
    from babel.messages.extract import extract_from_file  # noqa: PLC0415
    from babel.messages.pofile import read_po  # noqa: PLC0415

    package = REPO_ROOT / "src" / "scryer_runbook"
    with (package / "locale" / "zh" / "doctor.po").open("rb") as po:
        catalog = read_po(po)
    keywords = {"_": None, "ngettext": (1, 2), "_plural": (2, 3)}

    def translated(message) -> bool:
        entry = catalog.get(message[0] if isinstance(message, tuple) else message)
        strings = (
            entry.string if entry and isinstance(entry.string, tuple) else (entry.string if entry else "",)
        )
        return all(strings)

    untranslated = [
        message
        for module in ("checks.py", "doctor.py", "diagnosis/project.py")
        for _line, message, _comments, _context in extract_from_file("python", package / module, keywords)
        if not translated(message)
    ]
    # problems.py's connection failures, which the connection check reports
    untranslated += [
        summary
        for _kind, _messages, summary, _runbook in problems._CONNECT_KINDS  # noqa: SLF001
        if not translated(summary)
    ]
    assert not untranslated, untranslated


def test_chinese_connection_failure():
    report = doctor.triage(
        f"postgresql://postgres@127.0.0.1:{scenarios.unused_port()}/postgres", None, lang="zh"
    )
    connection = report.check("connection")
    assert connection.summary.endswith("拒绝连接：那里没有服务器在监听") and not english_sentences(
        connection.summary
    )
    assert report.check("server").summary == "未检查：没有连接"


# the fixture projects (tests/fixtures/projects): real layouts, each healthy and with each fault it can show -


FAULTS = ("healthy", "no-version-table", "behind", "drift", "locked")


def fresh_triage(*args, **kwargs) -> doctor.Report:
    """The doctor in a new process, as the CLI runs it: a project's models are imported once per process
    (SQLModel keeps every table in one process-wide MetaData, so a second import of the same models fails)."""
    spawn = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(max_workers=1, mp_context=spawn) as pool:
        return pool.submit(doctor.triage, *args, **kwargs).result(timeout=60)


def fixture_project(name: str, tmp_path: Path, scratch, monkeypatch, env: bool = True):
    """A copy of fixture project ``name`` migrated by its own CLI, and the doctor's environment as an
    engineer's shell would have it: the project's settings (when ``env``) and its working folder."""
    project = copy_fixture_project(name, tmp_path)
    databases = tuple(scratch.database(database) for database in project.databases)
    upgraded = project.run("upgrade", "head", url=databases)
    assert upgraded.returncode == 0, upgraded.output
    for variable in project.env_vars:
        monkeypatch.delenv(variable, raising=False)
    for variable, value in project.env_for(*databases).items() if env else ():
        monkeypatch.setenv(variable, value)
    if project.flask:
        monkeypatch.setenv("FLASK_APP", "app")
    monkeypatch.chdir(project.workdir)
    return project, databases


@pytest.mark.parametrize("fault", FAULTS)
@pytest.mark.parametrize("name", FIXTURE_PROJECTS)
def test_fixture_projects(name, fault, scratch, tmp_path, monkeypatch):
    project, databases = fixture_project(name, tmp_path, scratch, monkeypatch)
    url = databases[0]
    cli = "flask db" if project.flask else "alembic"
    schema, _dot, table = project.version_table.rpartition(".")
    if fault == "behind":
        downgraded = project.run("downgrade", project.revisions[-2], url=databases)
        assert downgraded.returncode == 0, downgraded.output
    elif fault == "no-version-table":
        with admin(url) as conn:
            conn.execute(f"DROP TABLE {project.version_table}")
    elif fault == "drift":
        with admin(url) as conn:
            conn.execute(f"ALTER TABLE {project.data_table} ADD COLUMN left_by_hand int")
    holder = thread = None
    if fault == "locked":
        holder, thread = in_thread(
            url, f"LOCK TABLE {project.data_table} IN ACCESS EXCLUSIVE MODE", "SELECT pg_sleep(20)"
        )
        wait_for_lock(url, holder.info.backend_pid, project.data_table)
    try:
        started = time.monotonic()
        report = fresh_triage(url, Path(project.ini), lang="en")
        took = time.monotonic() - started
    finally:
        if holder:
            holder.cancel_safe()
            thread.join(timeout=10)
            holder.close()
    text = report.text()
    assert report.cli == cli and report.notes == (
        []
        if not project.flask
        else ["no script_location in migrations/alembic.ini: a Flask-Migrate project, scripts in migrations"]
    ), text
    assert report.check("migration-lock").status == SKIP  # these projects take no advisory lock
    if fault == "healthy":
        assert_findings(report, {})
        assert report.check("version-table").summary == f"{table}: {project.head}"
        assert report.check("drift").summary.startswith(
            "the live schema matches the models (env.py's target_metadata"
        )
    elif fault == "no-version-table":
        assert_findings(report, {"version-table": "already-exists"})
        tables, _schema, advice, data = report.check("version-table").evidence
        assert project.data_table.strip('"') in tables
        assert advice.startswith(f"do not `{cli} stamp head`") and f"then `{cli} upgrade head`" in advice
        assert f"{project.data_revision}: " in data, data
    elif fault == "behind":
        assert_findings(report, {"revision": "run-migrations"})
        assert report.check("revision").evidence == [
            f"current: {project.revisions[-2]}",
            f"pending: {project.head}",
        ]
        assert f"`{cli} upgrade head` has not run" in report.check("revision").summary
    elif fault == "drift":
        assert_findings(report, {"drift": "autogenerate-drift"})
        assert any(
            line.startswith("remove_column") and "left_by_hand" in line
            for line in report.check("drift").evidence
        ), text
        assert f"`{cli} check` fails with" in report.check("drift").summary
    else:
        assert report.elapsed < 8 and took < 30, (
            text
        )  # the doctor's own time; a new process adds its start-up
        assert report.check("locks").status == FAIL and report.exit_code == 1, text
        assert any(
            f"holds AccessExclusiveLock on {project.data_table.strip(chr(34))} (active)" in line
            for line in report.check("locks").evidence
        ), text


@pytest.mark.parametrize("name", ["settings_sqlmodel", "flask_migrate", "custom_version_table"])
def test_fixture_project_whose_env_py_cannot_load_is_never_healthy(name, scratch, tmp_path, monkeypatch):
    """Without the project's settings (or FLASK_APP) env.py cannot be read: the version table's name is still
    read from env.py's source, drift is named as not checked, and the run exits 3, never "healthy"."""
    project, databases = fixture_project(name, tmp_path, scratch, monkeypatch, env=False)
    monkeypatch.delenv("FLASK_APP", raising=False)
    report = fresh_triage(databases[0], Path(project.ini), lang="en", strict=True)
    text = report.text()
    assert report.status == "incomplete" and report.exit_code == 3, text
    if (
        project.flask
    ):  # its online configure() takes **Migrate(...).configure_args: the name could be anything
        assert report.check("version-table").status == SKIP and report.check("version-table").blind, text
    else:
        assert (
            report.check("version-table").summary
            == f"{project.version_table.rpartition('.')[2]}: {project.head}"
        )
    drift = report.check("drift")
    assert drift.status == SKIP and drift.blind and "env.py could not be read offline" in drift.summary, text
    if project.flask:
        assert "(a Flask-Migrate env.py needs the app: set FLASK_APP)" in drift.summary


def test_fixture_project_with_relative_script_location_from_its_root(scratch, tmp_path, monkeypatch):
    """The FastAPI-template layout run from the repository root: `-c backend/alembic.ini` and its
    `script_location = app/alembic` only work from backend/; the doctor says so and prints commands that do."""
    project, databases = fixture_project("settings_sqlmodel", tmp_path, scratch, monkeypatch)
    monkeypatch.chdir(project.root)
    report = fresh_triage(databases[0], Path("backend/alembic.ini"), lang="en")
    assert_findings(report, {})
    assert report.cli == "cd backend && alembic"
    assert report.notes == [
        "script_location app/alembic does not exist from the current directory; read from "
        "backend (run alembic there)"
    ]


@pytest.mark.filterwarnings(
    "ignore:No path_separator found"
)  # the multidb template's ini, as Alembic ships it
def test_reading_a_project_leaves_no_file_in_the_working_directory(tmp_path, monkeypatch):
    """Alembic's multidb env.py writes <name>.sql into the working directory in offline mode: reading its options
    (the doctor, the runbooks) must not leave it in the engineer's folder, or a notebook's."""
    fixture = copy_fixture_project("multidb", tmp_path / "project")
    config = AlembicProject.find(Path(fixture.ini)).config()  # as a runbook reads it: the project importable
    here = tmp_path / "here"
    here.mkdir()
    monkeypatch.chdir(here)
    for name in fixture.env_vars:  # nothing connects: offline, stopped at configure()
        monkeypatch.setenv(name, "postgresql://nobody@127.0.0.1:1/unused")
    with pytest.MonkeyPatch.context() as patched:
        patched.setattr("scryer_runbook.diagnosis.project.no_files_left", contextlib.nullcontext)
        diagnosis.load_project(Path(fixture.ini), config=config)
        assert [path.name for path in here.iterdir()] == ["main.sql"]  # the trap is real
    (here / "main.sql").unlink()
    assert diagnosis.load_project(Path(fixture.ini), config=config).env_error is None
    assert list(here.iterdir()) == []
