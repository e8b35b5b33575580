"""The container start-up (docker/entrypoint.sh, docker/wait-for-postgres.sh) as real processes on real servers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request

import psycopg
import pytest

from scryer_runbook import problems, project, scenarios, server, urls
from tests.startup_env import BIN, DOCKER, compose_server, container_env, owner_and_app

pytestmark = pytest.mark.slow  # servers in starting-up states, the app started for real

HEAD = "004_index_tasks_created_at"


def run(args, env, timeout=60) -> tuple[int, str, float]:
    """(exit code, stdout and stderr interleaved, seconds taken) of a start-up script run in the project folder."""
    started = time.monotonic()
    done = subprocess.run(
        [str(arg) for arg in args],
        cwd=project.REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=timeout,
    )
    return done.returncode, done.stdout, time.monotonic() - started


def has_version_table(url: str) -> bool:
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT to_regclass('public.alembic_version') IS NOT NULL").fetchone()[0]


@pytest.fixture
def roles(scratch):
    return owner_and_app(scratch)


def test_wait_for_a_server_that_comes_up_late():
    with scenarios.late_server(delay=2) as late:
        env = container_env(late.url, "unused", WAIT_TIMEOUT="30")
        code, output, seconds = run([DOCKER / "wait-for-postgres.sh", "127.0.0.1", late.port], env)
    assert code == 0, output
    assert "PostgreSQL is ready" in output
    assert seconds >= 2


def test_wait_retries_while_the_server_is_starting_up():
    """A real server in archive recovery answers FATAL 57P03 "the database system is starting up" (as the official
    image does while it initialises) for a few seconds, then accepts: the wait says why it waits, and succeeds."""
    with scenarios.server_in_state(
        "starting", restore_seconds=3
    ) as url:  # 3 s: the wait starts first on a busy machine
        env = {**os.environ, "DATABASE_URL": url, "WAIT_TIMEOUT": "30"}
        code, output, _ = run([BIN / "scryer-runbook", "wait", "--interval", "0.2"], env)
    assert code == 0, output
    host, port = urls.parse(url).host, urls.parse(url).port
    assert output.count(f"waiting: the server at {host}:{port} is still starting up") == 1, output
    assert output.rstrip().endswith("accepts connections"), output


def test_wait_gives_up_on_a_server_that_never_comes_up(tmp_path):
    port = scenarios.unused_port()  # nothing listens there
    env = container_env(
        f"postgresql://scryer_app:s3cr3t-pw@127.0.0.1:{port}/scryer", "unused", WAIT_TIMEOUT="3"
    )
    code, output, seconds = run([DOCKER / "entrypoint.sh", "touch", tmp_path / "app-started"], env)
    assert code != 0
    assert f"ERROR: PostgreSQL is not ready\nconnection refused by 127.0.0.1:{port}" in output
    assert problems.runbook_url("not-ready") in output
    assert 2.5 <= seconds < 15, seconds  # the 3 s given, not the default 60 (slack for a loaded machine)
    assert "s3cr3t-pw" not in output
    assert not (tmp_path / "app-started").exists()


@pytest.mark.parametrize(
    "broken, line",
    [
        ({"POSTGRES_PASSWORD": "wrong-s3cr3t-pw"}, "password authentication failed for user '{user}'"),
        ({"POSTGRES_DB": "nosuchdb"}, "database 'nosuchdb' does not exist on {host}:{port}"),
    ],
    ids=["wrong-password", "missing-database"],
)
def test_wait_stops_at_once_on_what_waiting_cannot_fix(roles, tmp_path, broken, line):
    owner, app = roles
    env = container_env(app, owner, WAIT_TIMEOUT="60", **broken)
    code, output, seconds = run([DOCKER / "entrypoint.sh", "touch", tmp_path / "app-started"], env)
    assert code != 0
    reason = line.format(user=env["POSTGRES_USER"], host=env["POSTGRES_HOST"], port=env["POSTGRES_PORT"])
    assert f"ERROR: PostgreSQL is not ready\n{reason}" in output
    assert seconds < 20, "a wrong password or a missing database is not worth waiting 60 s for"
    assert "s3cr3t-pw" not in output and env["POSTGRES_PASSWORD"] not in output
    assert not (tmp_path / "app-started").exists()


def test_skip_migration_starts_the_app_without_migrating(roles, tmp_path):
    owner, app = roles
    code, output, _ = run(
        [DOCKER / "entrypoint.sh", "touch", tmp_path / "app-started"],
        container_env(app, owner, SKIP_MIGRATION="true"),
    )
    assert code == 0, output
    assert "migration skipped (SKIP_MIGRATION=true)" in output
    assert (tmp_path / "app-started").exists()
    assert not has_version_table(owner)


def test_a_failed_migration_stops_the_container_before_the_app(roles, tmp_path):
    owner, app = roles
    with psycopg.connect(owner, autocommit=True) as conn:  # what an app's metadata.create_all() leaves behind
        conn.execute("CREATE TABLE users (id uuid PRIMARY KEY)")
    code, output, _ = run(
        [DOCKER / "entrypoint.sh", "touch", tmp_path / "app-started"], container_env(app, owner)
    )
    assert code == 1
    assert (
        'ERROR: [ALEMBIC] Migration failed: relation "users" already exists' in output
    )  # the guide's symptom
    # and the runbook, named by the tool beside the app (the Scryer project itself knows nothing of it)
    assert (
        'the migration creates something that already exists: relation "users" already exists (runbook: '
        f"{problems.runbook_url('already-exists', 'en')})" in output
    )
    assert not (tmp_path / "app-started").exists()


def test_a_migration_that_cannot_connect_names_the_not_ready_runbook(roles, tmp_path):
    """The app's role gets in (the wait passes), the owner's password is wrong: alembic fails to connect."""
    owner, app = roles
    wrong = urls.parse(owner).set(drivername="postgresql", password="wrong-s3cr3t-pw")
    env = container_env(app, wrong.render_as_string(hide_password=False))
    code, output, _ = run([DOCKER / "entrypoint.sh", "touch", tmp_path / "app-started"], env)
    assert code == 1
    assert f"ERROR: [ALEMBIC] Migration failed: cannot connect to {wrong.render_as_string()}: " in output
    assert (
        f"password authentication failed for user '{wrong.username}' (runbook: "
        f"{problems.runbook_url('not-ready', 'en')})" in output
    )
    assert "wrong-s3cr3t-pw" not in output and "Traceback" not in output
    assert not (tmp_path / "app-started").exists()


def test_a_healthy_start_migrates_as_the_owner_and_serves_health_as_the_app():
    with compose_server() as (owner, app):
        port = server.free_port()
        env = container_env(app, owner, APP_PORT=str(port))
        process = subprocess.Popen(  # the image's ENTRYPOINT and CMD
            [DOCKER / "entrypoint.sh", sys.executable, "-m", "src.backend.app.main"],
            cwd=project.REPO_ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            status, report = get_health(port, process)
        finally:
            process.terminate()
            output = process.communicate(timeout=10)[0]
        assert (status, report) == (200, {"database": "ok", "schema": f"at head {HEAD}", "app": "ok"}), output
        migration_lines = [line for line in output.splitlines() if "migration" in line.lower()]
        assert "migration: alembic upgrade head" in migration_lines
        assert "migration done: database at head" in migration_lines
        assert "s3cr3t-pw" not in output
        with psycopg.connect(app) as conn:  # least privilege: rows yes, schema no
            conn.execute("INSERT INTO users VALUES (gen_random_uuid(), 'ada', 'ada@example.com', true)")
            with pytest.raises(psycopg.errors.InsufficientPrivilege, match="must be owner of table users"):
                conn.execute("ALTER TABLE users ADD COLUMN nickname text")


def get_health(port: int, process: subprocess.Popen, timeout: float = 30) -> tuple[int, dict]:
    """GET /health once the app answers (the entrypoint waits and migrates first)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5) as response:
                return response.status, json.load(response)
        except urllib.error.HTTPError as error:
            return error.code, json.load(error)
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                raise
            time.sleep(0.2)
