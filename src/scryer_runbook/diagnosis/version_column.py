"""``alembic_version.version_num``'s type, and which revision ids do not fit it (its width: ``versions.version_width``).

Alembic creates the column as varchar(32). An id longer than that (``005_add_completed_at_to_tasks_table``) fails
when Alembic writes it: ``value too long for type character varying(32)`` (SQLSTATE 22001).
"""

from __future__ import annotations

from alembic.script import ScriptDirectory

__all__ = ["version_num_type", "too_long_revisions"]


def version_num_type(conn, table: str = "public.alembic_version") -> str | None:
    """``version_num``'s type as psql's ``\\d`` shows it (``character varying(32)``); None without the table."""
    row = conn.execute(
        """SELECT format_type(atttypid, atttypmod) FROM pg_attribute
                          WHERE attrelid = to_regclass(%s) AND attname = 'version_num'""",
        [table],
    ).fetchone()
    return row[0] if row else None


def too_long_revisions(script: ScriptDirectory, width: int | None) -> list[str]:
    """The revision ids longer than ``width``, oldest first (none when the column has no limit)."""
    if width is None:
        return []
    return [rev.revision for rev in reversed(list(script.walk_revisions())) if len(rev.revision) > width]
