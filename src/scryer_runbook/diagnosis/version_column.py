"""How wide ``alembic_version.version_num`` is, and which revision ids do not fit it.

Alembic creates the column as varchar(32). An id longer than that (``005_add_completed_at_to_tasks_table``) fails
when Alembic writes it: ``value too long for type character varying(32)`` (SQLSTATE 22001).
"""

from __future__ import annotations

from alembic.script import ScriptDirectory

__all__ = ["ALEMBIC_VERSION_WIDTH", "version_num_type", "version_num_width", "too_long_revisions"]

ALEMBIC_VERSION_WIDTH = 32  # what Alembic's version table has unless someone widened it


def version_num_type(conn, table: str = "public.alembic_version") -> str | None:
    """``version_num``'s type as psql's ``\\d`` shows it (``character varying(32)``); None without the table."""
    row = conn.execute(
        """SELECT format_type(atttypid, atttypmod) FROM pg_attribute
                          WHERE attrelid = to_regclass(%s) AND attname = 'version_num'""",
        [table],
    ).fetchone()
    return row[0] if row else None


def version_num_width(conn, table: str = "public.alembic_version") -> int | None:
    """The length limit of ``version_num``; None when it has none (``text``, ``varchar`` without a length).

    Without a version table yet, Alembic's own width: that is the column the next upgrade creates."""
    row = conn.execute(
        """SELECT CASE WHEN atttypmod > 4 THEN atttypmod - 4 END FROM pg_attribute
                          WHERE attrelid = to_regclass(%s) AND attname = 'version_num'""",
        [table],
    ).fetchone()
    return row[0] if row else ALEMBIC_VERSION_WIDTH


def too_long_revisions(script: ScriptDirectory, width: int | None) -> list[str]:
    """The revision ids longer than ``width``, oldest first (none when the column has no limit)."""
    if width is None:
        return []
    return [rev.revision for rev in reversed(list(script.walk_revisions())) if len(rev.revision) > width]
