"""The migration-blocked runbook: its diagnosis under a real blocker, cancel vs terminate, orphaned backends, lock
retries, and the notebook pointed at a stalled database (incident mode) with and without apply_fix."""

import subprocess
import sys
import threading
import time

import psycopg
import pytest

from scryer_runbook import diagnosis, lock_retries, scenarios
from scryer_runbook.notebooks import NOTEBOOKS, execute
from scryer_runbook.project import AlembicProject, copy_project

NOTEBOOK = NOTEBOOKS / "migration-blocked.en.ipynb"
TARGET_ENV = "SCRYER_TEST_BLOCKED_TARGET"
SCRYER_LOCK_KEY = diagnosis.load_project(
    AlembicProject.find().ini
).lock_key  # [scryer_runbook] in alembic.ini
WAITING_HERE = (
    "SELECT count(*) > 0 FROM pg_locks WHERE NOT granted "
    "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
)


def outputs(nb) -> str:
    return "\n".join(
        output.get("text", "") for cell in nb.cells if cell.cell_type == "code" for output in cell.outputs
    )


@pytest.fixture
def project(tmp_path):
    copy = copy_project(tmp_path / "scryer")
    scenarios.add_pending_ddl(copy)
    return copy


@pytest.fixture
def at_004(empty_db, project):
    scenarios.database_at(empty_db, project, "004_index_tasks_created_at")
    return empty_db


@pytest.fixture
def stall(at_004, project):
    stalled = scenarios.stall_behind_blocker(at_004, project)
    yield stalled
    stalled.close()
    assert sessions_after_they_end(at_004) == set()  # nothing this scenario started is left


def sessions_of(url) -> set[tuple[int, str]]:
    with psycopg.connect(url, autocommit=True) as conn:
        return set(
            conn.execute(
                "SELECT pid, application_name FROM pg_stat_activity WHERE "
                "datname = current_database() AND pid <> pg_backend_pid()"
            ).fetchall()
        )


def sessions_after_they_end(url, seconds: float = 5) -> set[tuple[int, str]]:
    """The sessions still there once ended ones are gone: a terminated or closing backend leaves
    pg_stat_activity a moment after its client has moved on."""
    deadline = time.monotonic() + seconds
    while (left := sessions_of(url)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return left


def state(url):
    """Columns and recorded versions, from the catalogue only: information_schema's defaults (pg_get_expr) would
    queue behind the stalled migration's lock request."""
    with diagnosis.bounded_connect(url) as conn:
        columns = conn.execute(
            "SELECT attrelid::regclass::text, attname, format_type(atttypid, atttypmod) "
            "FROM pg_attribute WHERE attrelid IN ('tasks'::regclass, 'users'::regclass) "
            "AND attnum > 0 AND NOT attisdropped ORDER BY 1, 2"
        ).fetchall()
        return columns, diagnosis.version_rows(conn)


# the diagnosis ----------------------------------------------------------------------------------------------------


def test_diagnosis_draws_the_queue_from_the_blocker_down(stall, capsys):
    sessions, lock_rows = diagnosis.diagnose_blocking(stall.url, SCRYER_LOCK_KEY)
    tree = capsys.readouterr().out.splitlines()
    assert tree[0].startswith("pid ") and "[nightly-report] idle in transaction" in tree[0]
    assert (
        "[alembic] waits for AccessExclusiveLock on tasks: ALTER TABLE tasks ADD COLUMN priority" in tree[1]
    )
    assert sum("[scryer-app] waits for AccessShareLock on tasks" in line for line in tree) == 3
    assert [b.application for b in diagnosis.root_blockers(sessions)] == ["nightly-report"]
    assert [granted for _pid, granted, *_rest in lock_rows] == [
        True
    ]  # one migrates; the other polls, holding nothing


def test_diagnosis_finishes_in_seconds_while_a_blocker_holds_access_exclusive(at_004):
    """A test-held ACCESS EXCLUSIVE lock on tasks (the worst case for catalogue reads) does not stall it."""
    with (
        psycopg.connect(at_004) as holder,
        psycopg.connect(at_004, autocommit=True, options="-c statement_timeout=20s") as waiter_conn,
    ):
        holder.execute("LOCK TABLE tasks IN ACCESS EXCLUSIVE MODE")
        waiter = threading.Thread(
            target=lambda: waiter_conn.execute("SELECT count(*) FROM tasks"), daemon=True
        )
        waiter.start()
        scenarios.wait_until(at_004, WAITING_HERE)
        started = time.monotonic()
        sessions, _rows = diagnosis.diagnose_blocking(at_004, SCRYER_LOCK_KEY)
        assert time.monotonic() - started < 3
        assert [b.pid for b in diagnosis.root_blockers(sessions)] == [holder.info.backend_pid]
        holder.rollback()
        waiter.join(10)


def test_cancel_leaves_a_session_idle_in_transaction_holding_its_lock_and_terminate_ends_it(at_004):
    with psycopg.connect(at_004) as blocker, psycopg.connect(at_004, autocommit=True) as admin:
        blocker.execute("SELECT count(*) FROM tasks")
        pid = blocker.info.backend_pid
        session = diagnosis.BlockedSession(pid, "", "idle in transaction", [], None, 0, 0, "")
        assert diagnosis.end_blocker_sql(session) == f"SELECT pg_terminate_backend({pid})"
        assert admin.execute("SELECT pg_cancel_backend(%s)", [pid]).fetchone()[0]
        time.sleep(0.3)
        assert diagnosis.session_states(at_004, [pid]) == {pid: "idle in transaction"}
        assert (
            admin.execute(
                "SELECT count(*) FROM pg_locks WHERE pid = %s AND relation = 'tasks'::regclass", [pid]
            ).fetchone()[0]
            == 1
        )
        admin.execute("SELECT pg_terminate_backend(%s)", [pid])
        assert diagnosis.wait_until_gone(at_004, [pid]) == {pid: None}
        with pytest.raises(
            psycopg.errors.AdminShutdown, match="terminating connection due to administrator command"
        ):
            blocker.execute("SELECT 1")


def test_a_killed_client_leaves_its_backend_holding_the_migration_lock(stall):
    _sessions, before = diagnosis.diagnose_blocking(stall.url, SCRYER_LOCK_KEY)
    stall.kill_migration_clients()
    time.sleep(0.5)
    _sessions, after = diagnosis.diagnose_blocking(stall.url, SCRYER_LOCK_KEY)
    # the DDL's backend still holds the lock; the poller's backend, idle between two tries, ended with its client
    assert [row[:2] for row in after] == [row[:2] for row in before if row[1]]


def test_client_connection_check_interval_ends_an_orphaned_lock_wait(at_004):
    """The prevention the page recommends: with it, a killed client's backend exits while it waits for a lock."""
    with psycopg.connect(at_004) as blocker:
        blocker.execute("SELECT count(*) FROM tasks")
        client = subprocess.Popen(
            [
                sys.executable,
                "-c",
                (
                    "import psycopg, sys; c = psycopg.connect(sys.argv[1], application_name='orphan', autocommit=True, "
                    "options='-c client_connection_check_interval=200ms -c statement_timeout=30s'); "
                    "c.execute('ALTER TABLE tasks ADD COLUMN x int')"
                ),
                at_004,
            ]
        )
        try:
            scenarios.wait_until(at_004, WAITING_HERE)
            with diagnosis.bounded_connect(at_004) as conn:
                pid = conn.execute(
                    "SELECT pid FROM pg_stat_activity WHERE application_name = 'orphan'"
                ).fetchone()[0]
        finally:
            client.kill()
            client.wait()
        assert diagnosis.wait_until_gone(at_004, [pid], 5) == {pid: None}
        blocker.rollback()


def test_a_live_alembic_cancelled_says_user_request_and_changes_nothing(stall):
    sessions, lock_rows = diagnosis.diagnose_blocking(stall.url, SCRYER_LOCK_KEY)
    pids = diagnosis.migration_pids(sessions, lock_rows)
    statements = diagnosis.stop_migration_sql(pids, diagnosis.session_states(stall.url, pids))
    assert statements == [f"SELECT pg_cancel_backend({lock_rows[0][0]})"]  # the DDL runs: a cancel is enough
    with psycopg.connect(stall.url, autocommit=True) as admin:
        # first the rollout stops: the container polling for the migration lock would take over and queue again
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() "
            "AND application_name = 'alembic' AND pid <> %s",
            [lock_rows[0][0]],
        )
        for statement in statements:
            admin.execute(statement)
    texts = [process.communicate(timeout=30)[0] for process in stall.migrations]
    assert all(process.returncode != 0 for process in stall.migrations)
    assert (
        sum("psycopg.errors.QueryCanceled: canceling statement due to user request" in t for t in texts) == 1
    )
    stall.app_queries_done()
    assert len(stall.app_waits) == scenarios.APP_SESSIONS
    assert state(stall.url)[1] == ["004_index_tasks_created_at"]


# lock retries -----------------------------------------------------------------------------------------------------


def test_lock_retries_give_up_fast_then_succeed_once_the_report_ends(at_004, project, capsys):
    with scenarios.report_during_deploy(at_004) as report:
        result = lock_retries.upgrade_with_lock_retries(
            at_004,
            AlembicProject.find(project / "alembic.ini"),
            lock_timeouts=("300ms", "2s"),
            pause=0.1,
            between_attempts=report.finish,
        )
    text = capsys.readouterr().out
    assert result.returncode == 0 and text.count("$ MIGRATION_LOCK_TIMEOUT=") == 2
    assert "(psycopg.errors.LockNotAvailable) canceling statement due to lock timeout" in text
    assert state(at_004)[1] == [scenarios.PENDING]


def test_lock_retries_stop_at_once_on_another_failure(empty_db, project, capsys):
    with psycopg.connect(empty_db, autocommit=True) as conn:  # tasks does not exist: not a lock problem
        conn.execute("CREATE TABLE alembic_version (version_num varchar(32) PRIMARY KEY)")
        conn.execute("INSERT INTO alembic_version VALUES ('004_index_tasks_created_at')")
    result = lock_retries.upgrade_with_lock_retries(
        empty_db, AlembicProject.find(project / "alembic.ini"), lock_timeouts=("1s", "1s"), pause=30
    )
    assert result.returncode == 1 and 'relation "tasks" does not exist' in result.output
    assert capsys.readouterr().out.count("$ MIGRATION_LOCK_TIMEOUT=") == 1


# the notebook in incident mode ------------------------------------------------------------------------------------


def test_incident_without_apply_fix_changes_nothing_and_prints_what_to_run(stall, project, monkeypatch):
    monkeypatch.setenv(TARGET_ENV, stall.url)
    before_state, before_sessions = state(stall.url), sessions_of(stall.url)
    started = time.monotonic()
    nb = execute(NOTEBOOK, {"target_url_env": TARGET_ENV, "alembic_ini": str(project / "alembic.ini")})
    assert time.monotonic() - started < 60
    text = outputs(nb)
    assert state(stall.url) == before_state  # the same schema and version,
    assert sessions_of(stall.url) == before_sessions  # and every session still there: nothing cancelled
    assert text.count("NOT applied: apply_fix=False") == 3
    assert "SELECT pg_terminate_backend(" in text and "SELECT pg_cancel_backend(" in text
    assert "alembic upgrade head && break" in text and "$ " not in text  # no alembic ran against the target
    assert "NOT fixed (apply_fix=False)" in text


def test_incident_with_apply_fix_unblocks_and_migrates(stall, project, monkeypatch):
    monkeypatch.setenv(TARGET_ENV, stall.url)
    nb = execute(
        NOTEBOOK,
        {"target_url_env": TARGET_ENV, "alembic_ini": str(project / "alembic.ini"), "apply_fix": True},
    )
    text = outputs(nb)
    assert "NOT applied" not in text and "fixed: the migration ran, nothing waits for a lock" in text
    assert state(stall.url)[1] == [scenarios.PENDING]
    stall.app_queries_done()
    assert len(stall.app_waits) == scenarios.APP_SESSIONS
    assert (
        sessions_after_they_end(stall.url) == set()
    )  # the blocker, both migrations and the app sessions ended
