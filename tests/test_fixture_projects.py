"""The fixture projects are real: each one's own CLI, through its own settings, migrates a real database.

One upgrade per project: upgrade to head, `check` finds no drift, the data revision's rows are there,
then downgrade to base leaves no application table and an empty version table.
"""

from __future__ import annotations

import psycopg
import pytest

from tests.projects import NAMES, copy_project


def _query(url: str, sql: str):
    with psycopg.connect(url) as conn:
        return conn.execute(sql).fetchall()


def _app_tables(url: str) -> set[str]:
    rows = _query(
        url,
        "SELECT schemaname || '.' || tablename FROM pg_tables "
        "WHERE schemaname NOT IN ('pg_catalog', 'information_schema')",
    )
    return {row[0] for row in rows}


@pytest.mark.slow  # each layout's own CLI, through its whole chain
@pytest.mark.parametrize("name", NAMES)
def test_own_cli_upgrades_checks_and_downgrades(name, scratch, tmp_path):
    project = copy_project(name, tmp_path)
    urls = tuple(scratch.database(f"{name}_{db}") for db in project.databases)

    upgraded = project.run("upgrade", "head", url=urls)
    assert upgraded.returncode == 0, upgraded.output
    for revision in project.revisions:
        assert revision in upgraded.output  # "Running upgrade ... -> <revision>"
    for url in urls:
        assert _query(url, f"SELECT version_num FROM {project.version_table}") == [(project.head,)]

    checked = project.run("check", url=urls)
    assert checked.returncode == 0, checked.output
    assert "No new upgrade operations detected" in checked.output

    (count,) = _query(urls[0], f"SELECT count(*) FROM {project.data_table}")[0]
    assert count == project.data_rows

    downgraded = project.run("downgrade", "base", url=urls)
    assert downgraded.returncode == 0, downgraded.output
    for url in urls:
        assert _query(url, f"SELECT version_num FROM {project.version_table}") == []
        schema, _, table = project.version_table.rpartition(".")
        assert _app_tables(url) == {f"{schema or 'public'}.{table}"}


# What each layout does to a tool that runs it the Scryer way (these exact texts are what users see).
@pytest.mark.parametrize(
    "name, wrong_way, expected",
    [
        ("settings_sqlmodel", "from the project root", "FAILED: Path doesn't exist: app/alembic."),
        ("flask_migrate", "as plain alembic", "FAILED: No 'script_location' key found in configuration."),
        ("custom_version_table", "without its setting", "RuntimeError: APP_DB_URL is not set"),
    ],
)
def test_layout_fails_when_run_the_wrong_way(name, wrong_way, expected, tmp_path):
    project = copy_project(name, tmp_path)
    if wrong_way == "from the project root":
        result = project.run("current", url="postgresql://nobody@127.0.0.1:1/none", cwd=project.root)
    elif wrong_way == "as plain alembic":
        result = project.run("current", url="postgresql://nobody@127.0.0.1:1/none", cli=project.alembic_cli)
    else:
        result = project.run("current")
    assert result.returncode != 0, result.output
    assert expected in result.output


def test_flask_project_without_database_url_quietly_uses_sqlite(tmp_path):
    """The tutorial fallback: no DATABASE_URL, and `flask db` creates and migrates app/app.db, exit 0."""
    project = copy_project("flask_migrate", tmp_path)
    result = project.run("upgrade")
    assert result.returncode == 0, result.output
    assert "Context impl SQLiteImpl." in result.output
    assert (project.root / "app" / "app.db").is_file()
