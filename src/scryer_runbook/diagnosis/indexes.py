"""Indexes a failed or cancelled build left behind."""

from __future__ import annotations

__all__ = ["invalid_indexes"]


def invalid_indexes(conn, schemas: list[str]) -> list[tuple[str, str, str]]:
    """Indexes left invalid (``pg_index.indisvalid = false``), e.g. by a ``CREATE INDEX CONCURRENTLY`` that
    failed or was cancelled: (index, table, the statement that removes it without blocking writes).

    An invalid index is not used by queries but is still maintained on every write, and a retried ``CREATE
    INDEX CONCURRENTLY`` with the same name fails with "already exists".
    """
    return conn.execute(
        """
        SELECT i.relname, t.relname,
               'DROP INDEX CONCURRENTLY ' || quote_ident(n.nspname) || '.' || quote_ident(i.relname)
        FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid
             JOIN pg_namespace n ON n.oid = i.relnamespace
        WHERE NOT x.indisvalid AND n.nspname = ANY(%s::text[])
        ORDER BY 1""",
        [list(schemas)],
    ).fetchall()
