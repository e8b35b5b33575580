"""Scratch databases and roles: unique per run, dropped on close, swept by tag only."""

import os
import subprocess
import sys

import psycopg

from scryer_runbook import sandbox, server


def exists(kind, name):
    table, column = ("pg_database", "datname") if kind == "db" else ("pg_roles", "rolname")
    with psycopg.connect(os.environ["DATABASE_URL"]) as conn:
        return conn.execute(f"SELECT 1 FROM {table} WHERE {column} = %s", [name]).fetchone() is not None


def test_close_drops_databases_and_roles_even_with_open_sessions():
    box = sandbox.Sandbox()
    url = box.database("closing")
    role, _ = box.role("closing")
    database = box.databases[0]
    held = psycopg.connect(url)  # a session left open, as a failed notebook would leave it
    box.close()
    held.close()
    assert not exists("db", database) and not exists("role", role)


def test_sweep_touches_only_its_own_run(monkeypatch):
    """Two suites on one server: each sweeps its own tag and leaves the other's objects alone."""
    # Tags of their own: sweeping this run's real tag would drop the scratch databases of tests running beside this one.
    boxes = {}
    for tag in ("a1a1a1", "b2b2b2"):
        monkeypatch.setenv(sandbox.TAG_ENV, tag)
        boxes[tag] = sandbox.Sandbox()
        boxes[tag].database("suite")
    swept, _ = sandbox.sweep(os.environ["DATABASE_URL"], tag="a1a1a1")
    assert swept == boxes["a1a1a1"].databases and exists("db", boxes["b2b2b2"].databases[0])
    boxes["a1a1a1"].databases = []
    boxes["b2b2b2"].close()


def test_interpreter_exit_cleans_up_after_a_failure():
    """A notebook kernel whose cell raised still drops its scratch objects when it exits."""
    code = (
        "from scryer_runbook.sandbox import Sandbox\nbox = Sandbox()\nprint(box.database('crash'))\n"
        "print(box.role('crash')[0])\nraise SystemExit('a cell failed')"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=os.environ)
    assert done.returncode == 1 and "a cell failed" in done.stderr
    url, role = done.stdout.split()
    assert not exists("db", url.rsplit("/", 1)[1]) and not exists("role", role)


def test_an_admin_with_createdb_createrole_but_not_superuser_can_run_the_sandbox(scratch):
    """The README promises CREATEDB + CREATEROLE is enough for DATABASE_URL's role (a CI service, Compose)."""
    name, password = scratch.role("admin", "CREATEDB", "CREATEROLE")
    admin_url = sandbox.as_role(os.environ["DATABASE_URL"], name, password)
    box = sandbox.Sandbox(admin_url)
    url = box.database("by_admin")
    owner, _ = box.role("owner")
    with psycopg.connect(
        admin_url, autocommit=True
    ) as conn:  # an object of the owner's outside scratch databases
        conn.execute(f'ALTER DEFAULT PRIVILEGES FOR ROLE "{owner}" GRANT SELECT ON TABLES TO PUBLIC')
    box.close()
    assert not exists("role", owner) and not exists("db", url.rsplit("/", 1)[1])


def test_an_incident_run_stops_the_sandbox_server_it_started(head_db, monkeypatch):
    """Incident mode's scratch work needs a sandbox server; one the notebook had to start, it stops again."""
    from incident_support import run_incident

    from scryer_runbook.notebooks import NOTEBOOKS

    was_running = server.shared_server(start=False) is not None  # someone's `scryer-runbook pg start`: kept
    monkeypatch.delenv("SCRYER_SANDBOX_URL", raising=False)
    nb = run_incident(NOTEBOOKS / "already-exists.en.ipynb", head_db)
    text = "\n".join(output.get("text", "") for cell in nb.cells for output in cell.get("outputs", []))
    assert ("the sandbox server this runbook started is stopped" in text) is not was_running
    assert (server.shared_server(start=False) is not None) is was_running
