"""The version table and the revisions: what is recorded, how wide it is, which revisions change data.

Every function takes the version table's name and schema (env.py's ``version_table`` and
``version_table_schema``); the defaults are Alembic's (``alembic_version`` in the session's current schema).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

from alembic.script import ScriptDirectory

__all__ = ["version_table_name", "version_rows", "app_tables", "version_width", "data_changing_revisions"]

DEFAULT_VERSION_TABLE = "alembic_version"
# Statements an op.execute() may run that change the schema, not the data: stamping over them is caught by the
# schema comparison, so they are not listed as data changes.
_DDL = re.compile(r"\s*(CREATE|ALTER|DROP|COMMENT|GRANT|REVOKE|REINDEX|SET|RESET|ANALYZE|VACUUM)\b", re.I)


def version_table_name(conn, version_table: str = DEFAULT_VERSION_TABLE, schema: str | None = None) -> str:
    """The version table's quoted, schema-qualified name (``public.alembic_version``)."""
    return conn.execute(
        "SELECT quote_ident(coalesce(%s, current_schema())) || '.' || quote_ident(%s)",
        [schema, version_table],
    ).fetchone()[0]


def version_rows(
    conn, version_table: str = DEFAULT_VERSION_TABLE, schema: str | None = None
) -> list[str] | None:
    """The revisions recorded in the version table; None when the table does not exist."""
    qualified = version_table_name(conn, version_table, schema)
    if conn.execute("SELECT to_regclass(%s)", [qualified]).fetchone()[0] is None:
        return None
    return [row[0] for row in conn.execute(f"SELECT version_num FROM {qualified} ORDER BY 1")]  # noqa: S608 - quoted


def app_tables(conn, version_table: str = DEFAULT_VERSION_TABLE, schema: str | None = None) -> list[str]:
    """Tables in ``schema`` (default: the current schema, ``public``) other than the version table."""
    return [
        row[0]
        for row in conn.execute(
            """
        SELECT c.relname FROM pg_class c
        WHERE c.relnamespace = to_regnamespace(coalesce(%s, current_schema())) AND c.relkind IN ('r', 'p')
          AND c.relname <> %s ORDER BY 1""",
            [schema, version_table],
        )
    ]


def version_width(conn, version_table: str = DEFAULT_VERSION_TABLE, schema: str | None = None) -> int | None:
    """The length limit of ``version_num``: Alembic creates varchar(32); None when it has none."""
    qualified = version_table_name(conn, version_table, schema)
    found = conn.execute(
        """SELECT atttypmod - 4 FROM pg_attribute
                            WHERE attrelid = to_regclass(%s) AND attname = 'version_num' AND atttypmod > 0""",
        [qualified],
    ).fetchone()
    if found:
        return found[0]
    exists = conn.execute("SELECT to_regclass(%s) IS NOT NULL", [qualified]).fetchone()[0]
    return None if exists else 32  # not created yet: Alembic will create varchar(32)


def data_changing_revisions(
    script: ScriptDirectory, revisions: list[str] | None = None
) -> list[tuple[str, list[str]]]:
    """Revisions whose ``upgrade()`` (or ``upgrade_<db>()``) changes data, not only the schema, oldest first,
    with the calls that do it.

    ``alembic stamp`` over such a revision skips its data change silently, and no schema comparison can see
    that: ``op.bulk_insert``, ``op.execute`` of anything but DDL, ``connection.execute``/``session.execute``.
    The source is read from each revision's file (Alembic's ``Script.path``); nothing is imported or run.
    """
    found = []
    for revision in reversed(list(script.walk_revisions())):
        if revisions is not None and revision.revision not in revisions:
            continue
        calls = _data_calls(Path(revision.path))
        if calls:
            found.append((revision.revision, calls))
    return found


def _data_calls(path: Path) -> list[str]:
    source = path.read_text()
    tree = ast.parse(source)
    # upgrade(), and the multidb template's upgrade_<name>() functions it dispatches to
    upgrades = [
        node for node in tree.body if isinstance(node, ast.FunctionDef) and node.name.startswith("upgrade")
    ]
    calls = []
    for node in (found for function in upgrades or [tree] for found in ast.walk(function)):
        if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
            continue
        receiver = ast.unparse(node.func.value)
        name = node.func.attr
        if (receiver, name) == ("op", "bulk_insert") or (name == "execute" and not _is_ddl(node, receiver)):
            text = " ".join(ast.get_source_segment(source, node).split())
            calls.append(text if len(text) <= 100 else text[:97] + "...")
    return calls


def _is_ddl(call: ast.Call, receiver: str) -> bool:
    """``op.execute("CREATE INDEX ...")`` (or ``sa.text(...)`` of it): a schema change written as SQL."""
    if receiver != "op" or not call.args:
        return False
    argument = call.args[0]
    if isinstance(argument, ast.Call) and argument.args:  # sa.text("..."), text("...")
        argument = argument.args[0]
    return (
        isinstance(argument, ast.Constant)
        and isinstance(argument.value, str)
        and bool(_DDL.match(argument.value))
    )
