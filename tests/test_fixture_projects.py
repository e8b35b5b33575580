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
    rows = _query(url, "SELECT schemaname || '.' || tablename FROM pg_tables "
                       "WHERE schemaname NOT IN ('pg_catalog', 'information_schema')")
    return {row[0] for row in rows}


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
