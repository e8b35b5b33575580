"""Incident mode on projects that are not Scryer: without apply_fix nothing but the sandbox is ever written, whatever
the project's env.py does, and every answer is right or an honest "cannot tell".

Each fixture project (tests/fixtures/projects) connects from its OWN settings and ignores any connection it is
handed. Its settings name a developer's local database (``devdb``), not the target, as they would on an engineer's
laptop. The target and devdb live on a server of their own, whose every database is dumped with pg_dump before
and after; the runbooks' scratch work goes to the test run's sandbox server (SCRYER_SANDBOX_URL).
"""

from __future__ import annotations

import re
import subprocess

import psycopg
import pytest
from incident_support import run_incident
from papermill.exceptions import PapermillExecutionError
from projects import NAMES, copy_project
from psycopg import sql

from scryer_runbook import server, urls
from scryer_runbook.notebooks import NOTEBOOKS

NOTEBOOK = NOTEBOOKS / "already-exists.en.ipynb"
SINGLE_DATABASE = [name for name in NAMES if name != "multidb"]


@pytest.fixture(scope="module")
def victim():
    """A server holding only the databases these tests protect."""
    own = server.start_server()
    yield own
    own.stop()


def dump_every_database(admin_url: str) -> dict[str, str]:
    """``pg_dump`` of every database on the server (schema and data), keyed by name."""
    with psycopg.connect(admin_url, autocommit=True) as conn:
        names = [
            row[0] for row in conn.execute("SELECT datname FROM pg_database WHERE datallowconn ORDER BY 1")
        ]
    pg_dump = str(server.find_bindir() / "pg_dump")
    dumps = {
        name: subprocess.run(
            [pg_dump, "--no-sync", urls.libpq(urls.parse(admin_url).set(database=name))],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for name in names
    }
    # pg_dump 15.14+ brackets its output with \restrict / \unrestrict and a random key, new on every run.
    return {name: re.sub(r"(?m)^\\(un)?restrict \S+$", "", dump) for name, dump in dumps.items()}


def fresh_database(admin_url: str, name: str) -> str:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return urls.libpq(urls.parse(admin_url).set(database=name))


def tables_without_version_table(project, target: str) -> None:
    """The already-exists state: the project's schema and data are there, its version table is gone."""
    migrated = project.run("upgrade", "head", url=target)
    assert migrated.returncode == 0, migrated.output
    schema, _, table = project.version_table.rpartition(".")
    with psycopg.connect(target, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP TABLE {}.{}").format(sql.Identifier(schema or "public"), sql.Identifier(table))
        )


@pytest.fixture
def laptop(victim, tmp_path, monkeypatch):
    """(project, target URL, devdb URL) for one fixture project, with the project's settings naming devdb."""

    def make(name: str):
        project = copy_project(name, tmp_path)
        target = fresh_database(victim.url, f"target_{name}")
        devdb = fresh_database(victim.url, "devdb")
        tables_without_version_table(project, target)
        for key, value in project.environ(devdb).items():  # what the engineer's shell holds
            monkeypatch.setenv(key, value)
        for variable in (
            "DATABASE_URL",
            "SQLALCHEMY_DATABASE_URI",
        ):  # the runbooks' own target is target_url_env
            if variable not in project.env_vars:
                monkeypatch.delenv(variable, raising=False)
        monkeypatch.chdir(project.workdir)
        return project, target, devdb

    return make


def outputs(nb) -> str:
    return "\n".join(
        output.get("text", "") for cell in nb.cells if cell.cell_type == "code" for output in cell.outputs
    )


@pytest.mark.parametrize("name", SINGLE_DATABASE)
def test_already_exists_without_apply_fix_writes_nothing_anywhere(name, laptop, victim):
    project, target, _ = laptop(name)
    before = dump_every_database(victim.url)
    text = outputs(run_incident(NOTEBOOK, target, alembic_ini=str(project.ini)))
    assert dump_every_database(victim.url) == before
    # The schema is the head's, and the last revision only adds data: the earliest revision with that schema.
    expected = project.revisions[-2] if project.data_revision == project.head else project.head
    assert f"the live schema matches: {expected}" in text or "cannot tell: " in text, text
    assert "NOT applied" in text or "stopped: " in text


@pytest.mark.parametrize("name", SINGLE_DATABASE)
def test_already_exists_with_apply_fix_writes_the_target_only(name, laptop, victim):
    project, target, devdb = laptop(name)
    others = {db: dump for db, dump in dump_every_database(victim.url).items() if db != f"target_{name}"}
    try:
        text = outputs(run_incident(NOTEBOOK, target, alembic_ini=str(project.ini), apply_fix=True))
    except PapermillExecutionError as error:  # the guard refused the settings' database: the notebook stops
        text = str(error)
        assert "the project's settings name another database" in text, text
    after = dump_every_database(victim.url)
    assert {db: dump for db, dump in after.items() if db != f"target_{name}"} == others  # devdb untouched
    outcomes = ("healed", "stopped: only you can tell", "the project's settings name another database")
    assert any(outcome in text for outcome in outcomes), text
    if "healed" in text:
        with psycopg.connect(target) as conn:
            schema, _, table = project.version_table.rpartition(".")
            versions = conn.execute(
                sql.SQL("SELECT version_num FROM {}.{}").format(
                    sql.Identifier(schema or "public"), sql.Identifier(table)
                )
            ).fetchall()
        assert versions == [(project.head,)]


def test_multidb_is_an_honest_cannot_tell(laptop, victim, tmp_path, monkeypatch):
    project = copy_project("multidb", tmp_path)
    main = fresh_database(victim.url, "target_main")
    audit = fresh_database(victim.url, "target_audit")
    assert project.run("upgrade", "head", url=(main, audit)).returncode == 0
    with psycopg.connect(main, autocommit=True) as conn:
        conn.execute("DROP TABLE alembic_version")
    for key, value in project.environ(main, audit).items():
        monkeypatch.setenv(key, value)
    before = dump_every_database(victim.url)
    text = outputs(run_incident(NOTEBOOK, main, alembic_ini=str(project.ini)))
    assert dump_every_database(victim.url) == before
    assert "cannot tell: a multidb project" in text


OTHER_RUNBOOKS = {
    "not-ready": {},
    "multiple-heads": {},
    "autogenerate-drift": {},
    "permissions": {"app_role": "postgres"},
    "migration-blocked": {},
    "enum-types": {},
}


@pytest.mark.parametrize("name", SINGLE_DATABASE)
def test_the_other_runbooks_without_apply_fix_write_nothing_anywhere(name, laptop, victim):
    """A healthy target at head, the project's settings naming devdb: each runbook diagnoses and changes nothing."""
    project, target, _ = laptop(name)
    assert (
        project.run("stamp", "head", url=target).returncode == 0
    )  # healthy again: at head, version recorded
    before = dump_every_database(victim.url)
    for slug, parameters in OTHER_RUNBOOKS.items():
        run_incident(NOTEBOOKS / f"{slug}.en.ipynb", target, alembic_ini=str(project.ini), **parameters)
    assert dump_every_database(victim.url) == before
