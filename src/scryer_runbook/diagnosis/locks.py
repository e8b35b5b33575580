"""Who holds or waits for locks a migration needs: table locks and the migration's advisory lock.

Read from ``pg_locks`` and ``pg_stat_activity`` only, which never wait on a lock themselves: these answer even
while another session holds ACCESS EXCLUSIVE on every application table.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["TableLock", "table_locks", "advisory_lock_sessions"]


@dataclass(frozen=True)
class TableLock:
    pid: int
    user: str | None
    application: str | None
    state: str | None  # "active", "idle in transaction", ... (None: hidden from a role that may not see it)
    granted: bool
    mode: str  # "AccessExclusiveLock", ...
    table: str
    state_seconds: int | None  # since the session's state last changed
    transaction_seconds: int | None
    blocked_by: list[int]

    @property
    def who(self) -> str:
        return f"pid {self.pid} ({self.user or '?'}{', ' + self.application if self.application else ''})"


def table_locks(conn, schemas: list[str]) -> list[TableLock]:
    """Every relation lock other sessions hold or wait for on the tables of ``schemas`` (waiters first)."""
    rows = conn.execute(
        """
        SELECT l.pid, a.usename, a.application_name, a.state, l.granted, l.mode, c.relname,
               floor(extract(epoch FROM now() - a.state_change))::int,
               floor(extract(epoch FROM now() - a.xact_start))::int, pg_blocking_pids(l.pid)
        FROM pg_locks l JOIN pg_class c ON c.oid = l.relation LEFT JOIN pg_stat_activity a ON a.pid = l.pid
        WHERE l.locktype = 'relation' AND l.pid <> pg_backend_pid()
          AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
          AND c.relnamespace = ANY(ARRAY(SELECT to_regnamespace(s) FROM unnest(%s::text[]) s))
          AND c.relkind IN ('r', 'p')
        ORDER BY l.granted, l.pid, c.relname""",
        [list(schemas)],
    ).fetchall()
    return [TableLock(*row) for row in rows]


def advisory_lock_sessions(
    conn, key: int
) -> list[tuple[int, bool, str | None, str | None, str | None, int | None]]:
    """Sessions holding or waiting for ``pg_advisory_lock(key)``: (pid, granted, user, application, state,
    seconds).

    A bigint key shows in ``pg_locks`` as two unsigned 32-bit halves (classid, objid) with objsubid 1.
    """
    unsigned = key & 0xFFFFFFFFFFFFFFFF
    return conn.execute(
        """
        SELECT l.pid, l.granted, a.usename, a.application_name, a.state,
               floor(extract(epoch FROM now() - coalesce(a.xact_start, a.backend_start)))::int
        FROM pg_locks l LEFT JOIN pg_stat_activity a ON a.pid = l.pid
        WHERE l.locktype = 'advisory' AND l.pid <> pg_backend_pid()
          AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
          AND l.classid = %s::bigint::oid AND l.objid = %s::bigint::oid AND l.objsubid = 1
        ORDER BY NOT l.granted, l.pid""",
        [unsigned >> 32, unsigned & 0xFFFFFFFF],
    ).fetchall()
