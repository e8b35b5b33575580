"""Statements that cannot run in a transaction block, and the INVALID indexes a failed concurrent build leaves.

PostgreSQL refuses ``CREATE/DROP INDEX CONCURRENTLY``, ``REINDEX ... CONCURRENTLY``, ``VACUUM`` (and, before
PostgreSQL 12, ``ALTER TYPE ... ADD VALUE``) inside a transaction block (SQLSTATE 25001), and Alembic runs each
revision in one unless the statement sits in ``op.get_context().autocommit_block()``. A concurrent build that fails
or is cancelled half-way leaves its index behind, marked invalid: unused by queries, still updated by every write,
and in the way of the retry (``relation "..." already exists``).
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

from alembic.script import ScriptDirectory

__all__ = ["InvalidIndex", "invalid_index_details", "NeedsAutocommit", "outside_autocommit_block"]


@dataclass
class InvalidIndex:
    name: str  # schema-qualified when not on the search path
    table: str
    definition: str  # pg_get_indexdef: what to run again, CONCURRENTLY, once it is dropped
    # A CREATE INDEX CONCURRENTLY is building it right now: invalid until it ends; leave it alone.
    building: bool


def invalid_index_details(conn) -> list[InvalidIndex]:
    """Every index with ``pg_index.indisvalid = false`` outside the system schemas, and whether it is being built.

    ``pg_stat_progress_create_index`` shows other roles' builds only to superusers and ``pg_read_all_stats``
    members: for anyone else "not building" means "not building in a session I can see"."""
    rows = conn.execute("""
        SELECT x.indexrelid::regclass::text, x.indrelid::regclass::text, pg_get_indexdef(x.indexrelid),
               EXISTS (SELECT FROM pg_stat_progress_create_index p WHERE p.index_relid = x.indexrelid)
        FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid
        WHERE NOT x.indisvalid AND i.relnamespace NOT IN ('pg_catalog'::regnamespace, 'pg_toast'::regnamespace)
        ORDER BY 1""").fetchall()
    return [InvalidIndex(*row) for row in rows]


# SQL that PostgreSQL refuses in a transaction block (ALTER TYPE ... ADD VALUE only before PostgreSQL 12).
_NO_TRANSACTION_SQL = re.compile(
    r"\bCONCURRENTLY\b|^\s*VACUUM\b|\bALTER\s+TYPE\s+\S+\s+ADD\s+VALUE\b|"
    r"^\s*(CREATE|DROP)\s+DATABASE\b|^\s*ALTER\s+SYSTEM\b",
    re.I | re.M,
)


@dataclass
class NeedsAutocommit:
    revision: str
    path: Path
    line: int
    code: str  # the statement, on one line


def outside_autocommit_block(script: ScriptDirectory) -> list[NeedsAutocommit]:
    """Statements in ``upgrade()``/``downgrade()`` that need to run outside a transaction but are not inside
    ``with op.get_context().autocommit_block():``, oldest revision first. Reads the files; runs nothing."""
    found = []
    for revision in reversed(list(script.walk_revisions())):
        source = Path(revision.path).read_text()
        for function in ast.parse(source).body:
            if isinstance(function, ast.FunctionDef) and function.name in ("upgrade", "downgrade"):
                found += [
                    NeedsAutocommit(
                        revision.revision,
                        Path(revision.path),
                        node.lineno,
                        " ".join(ast.get_source_segment(source, node).split()),
                    )
                    for node in _calls_outside_autocommit(function)
                    if _needs_autocommit(node)
                ]
    return found


def _calls_outside_autocommit(node: ast.AST):
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.With) and any(
            "autocommit_block" in ast.unparse(item.context_expr) for item in child.items
        ):
            continue
        if isinstance(child, ast.Call):
            yield child
        yield from _calls_outside_autocommit(child)


def _needs_autocommit(call: ast.Call) -> bool:
    if any(
        keyword.arg == "postgresql_concurrently"
        and isinstance(keyword.value, ast.Constant)
        and keyword.value.value
        for keyword in call.keywords
    ):
        return True
    text = [
        node.value
        for node in ast.walk(call)
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
    ]
    return (
        isinstance(call.func, ast.Attribute)
        and call.func.attr == "execute"
        and any(_NO_TRANSACTION_SQL.search(value) for value in text)
    )
