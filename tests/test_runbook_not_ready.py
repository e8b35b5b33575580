"""The not-ready runbook: its reproduce steps make the real states, and the notebook, pointed at a real target
(incident mode), names the cause, creates a missing database only when allowed, and otherwise changes nothing."""

import re
import time

import psycopg
import pytest
from conftest import outputs
from incident_support import run_incident

from scryer_runbook import diagnosis, sandbox, scenarios, urls
from scryer_runbook.notebooks import NOTEBOOKS

NOTEBOOK = NOTEBOOKS / "not-ready.en.ipynb"


def touched_no_sandbox(text: str) -> bool:
    """Incident mode never creates scratch objects: Runbook.close() reports a cleanup only when it made some."""
    return "sandbox cleaned up" not in text


def refused(url) -> bool:
    return diagnosis.attempt(url, connect_timeout=2).problem.kind == "refused"


# reproduce steps --------------------------------------------------------------------------------------------------


def test_unused_port_refuses():
    assert refused(f"postgresql://postgres@127.0.0.1:{scenarios.unused_port()}/postgres")


@pytest.mark.slow  # servers that start late or in a state
def test_late_server_comes_up_after_its_delay_and_is_stopped_afterwards():
    started = time.monotonic()
    with scenarios.late_server(delay=1) as late:
        assert refused(late.url)  # not yet
        deadline = time.monotonic() + 30
        while late.server is None:  # set once start_server() has returned
            assert time.monotonic() < deadline and late.error is None, late.error
            time.sleep(0.1)
        assert time.monotonic() - started >= 1 and diagnosis.attempt(late.url).ok
        root = late.server.root
    assert refused(late.url) and not root.exists()


@pytest.mark.slow  # servers that start late or in a state
def test_late_server_is_stopped_when_the_block_fails_and_never_started_when_it_ends_early():
    with pytest.raises(RuntimeError), scenarios.late_server(delay=0.2) as late:
        while late.server is None:
            time.sleep(0.05)
        raise RuntimeError("a failing cell")
    assert refused(late.url) and not late.server.root.exists()
    with scenarios.late_server(delay=30) as early:
        pass  # exits before the delay: the server must never start
    assert early.server is None and refused(early.url)


@pytest.mark.parametrize("state", sorted(scenarios.NOT_ACCEPTING_STATES))
@pytest.mark.slow  # servers that start late or in a state
def test_server_in_state_rejects_sessions_with_the_real_fatal_and_is_stopped(state):
    text = scenarios.NOT_ACCEPTING_STATES[state][1]
    with scenarios.server_in_state(state) as url:
        assert diagnosis.pg_isready(url).returncode == 1  # "rejecting connections"
        login = diagnosis.attempt(url)
        assert f"FATAL:  {text}" in login.error and login.problem.kind == state
    assert refused(url)


@pytest.mark.slow  # servers that start late or in a state
def test_server_in_state_stops_its_server_when_the_block_fails():
    with pytest.raises(RuntimeError), scenarios.server_in_state("starting") as url:
        raise RuntimeError("a failing cell")
    assert refused(url)


def test_pg_isready_ignores_user_and_database_and_has_four_exit_codes(scratch):
    url = scratch.database("isready")
    assert diagnosis.pg_isready(url, user="nosuchuser", database="nosuchdb").returncode == 0
    assert diagnosis.pg_isready(scenarios.missing_database_url(url)).returncode == 0
    with scenarios.wrong_password_url(scratch, url) as wrong:
        shown = diagnosis.pg_isready(wrong)
    assert shown.returncode == 0
    assert "-wrong" not in " ".join(shown.args) + shown.output  # the password is never passed or shown
    assert diagnosis.pg_isready(f"postgresql://x@127.0.0.1:{scenarios.unused_port()}/x").returncode == 2
    assert diagnosis.pg_isready(url + "?nosuchoption=1").returncode == 3


@pytest.mark.slow  # servers that start late or in a state
def test_wait_script_waits_for_a_late_server_and_gives_up_on_none():
    with scenarios.late_server(delay=1) as late:
        waited = scenarios.run_wait_script(late.url, timeout=15, interval=1)
    assert waited.returncode == 0 and "PostgreSQL is ready" in waited.output
    started = time.monotonic()
    gave_up = scenarios.run_wait_script(f"postgresql://x@127.0.0.1:{scenarios.unused_port()}/x", timeout=2)
    assert gave_up.returncode != 0 and time.monotonic() - started >= 2
    assert re.search(
        r"ERROR: PostgreSQL is not ready\nconnection refused by 127\.0\.0\.1:\d+", gave_up.output
    )


def test_wait_script_does_not_wait_for_a_missing_database(scratch):
    started = time.monotonic()
    result = scenarios.run_wait_script(scenarios.missing_database_url(scratch.admin_url), timeout=20)
    assert result.returncode != 0 and "does not exist" in result.output
    assert time.monotonic() - started < 10  # pg_isready passed at once, the real login failed at once


def test_drop_then_create_database_heals_only_when_applied(scratch, capsys):
    url = scratch.database("heal")
    scenarios.drop_database(url)
    assert diagnosis.attempt(url).problem.kind == "database-missing"
    assert scenarios.create_database(url, apply=False) is False
    printed = capsys.readouterr().out
    assert "NOT applied" in printed and "CREATE DATABASE" in printed
    assert diagnosis.attempt(url).problem.kind == "database-missing"
    assert scenarios.create_database(url, apply=True) is True
    assert diagnosis.attempt(url).ok


# the notebook in incident mode ------------------------------------------------------------------------------------


@pytest.fixture
def missing_target(scratch):
    """The URL of a database that does not exist yet, registered with the sandbox so it is dropped if created."""
    name = sandbox.scratch_name("app")
    scratch.databases.append(name)
    return urls.libpq(urls.parse(scratch.admin_url).set(database=name))


@pytest.mark.slow  # runs the notebook
def test_incident_missing_database_shows_the_server_and_is_not_created_by_apply_fix_alone(missing_target):
    """In production "does not exist" is usually the wrong server: creating it would let the entrypoint migrate an
    empty database and the app come up healthy with no data. So apply_fix alone creates nothing."""
    text = outputs(run_incident(NOTEBOOK, missing_target, apply_fix=True))
    port = str(urls.parse(missing_target).port)
    assert "[database-missing]" in text and "NOT applied" in text
    assert (
        "address       127.0.0.1" in text
        and f"port          {port}" in text
        and "standby       False" in text
    )
    assert "databases" in text and "postgres" in text
    assert diagnosis.attempt(missing_target).problem.kind == "database-missing"


@pytest.mark.slow  # runs the notebook
def test_incident_missing_database_is_created_for_a_new_environment(missing_target):
    text = outputs(run_incident(NOTEBOOK, missing_target, apply_fix=True, new_environment=True))
    assert "[database-missing]" in text and "CREATE DATABASE" in text and "NOT applied" not in text
    login = diagnosis.attempt(missing_target)
    assert login.ok and login.session[1] == urls.parse(missing_target).database


@pytest.mark.slow  # runs the notebook
def test_incident_missing_database_stays_missing_without_apply_fix(missing_target):
    nb = run_incident(NOTEBOOK, missing_target)
    text = outputs(nb)
    assert (
        "NOT applied" in text and "STILL NOT READY: [database-missing]" in text and touched_no_sandbox(text)
    )
    assert diagnosis.attempt(missing_target).problem.kind == "database-missing"


@pytest.mark.slow  # runs the notebook
def test_incident_stopped_server_is_named_refused_and_nothing_changes():
    target = f"postgresql://scryer:secret-pw@127.0.0.1:{scenarios.unused_port()}/scryer"
    nb = run_incident(NOTEBOOK, target, apply_fix=True)  # even allowed to, it has nothing to write
    text = outputs(nb)
    assert "Connection refused" in text and "[refused] connection refused by 127.0.0.1" in text
    assert "ERROR: PostgreSQL is not ready" in text and "STILL NOT READY: [refused]" in text
    assert "secret-pw" not in text and touched_no_sandbox(text)
    assert "CREATE DATABASE" not in text
    assert refused(target)  # nothing was started in its place


@pytest.mark.slow  # runs the notebook
def test_incident_healthy_target_diagnosis_writes_nothing(scratch):
    """Diagnosis only attempts connections, and a session that opens is read-only on the server."""
    url = scratch.database("healthy")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE TABLE marker (id int PRIMARY KEY)")
        conn.execute("INSERT INTO marker VALUES (1)")
    with diagnosis.connect(url) as conn:
        before = diagnosis.schema_snapshot(conn), conn.execute("SELECT count(*) FROM marker").fetchone()
    nb = run_incident(NOTEBOOK, url, apply_fix=True)
    text = outputs(nb)
    assert "nothing to fix" in text and "OK: logged in as 'postgres'" in text and touched_no_sandbox(text)
    with diagnosis.connect(url) as conn:
        assert (
            diagnosis.schema_snapshot(conn),
            conn.execute("SELECT count(*) FROM marker").fetchone(),
        ) == before
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            conn.execute("INSERT INTO marker VALUES (2)")


def test_create_database_without_createdb_prints_the_command_instead(scratch, capsys):
    role, password = scratch.role("app")  # LOGIN only: no CREATEDB
    url = sandbox.as_role(scenarios.missing_database_url(scratch.admin_url), role, password)
    assert scenarios.create_database(url, apply=True) is False
    printed = capsys.readouterr().out
    assert "could not create it" in printed and "permission denied to create database" in printed
    assert "CREATE DATABASE" in printed and password not in printed
    assert diagnosis.attempt(url).problem.kind == "database-missing"
