"""Who waits for whom (pg_stat_activity, pg_locks, pg_blocking_pids()), and who holds the migration lock.

These catalogue views never wait on a lock themselves, and the session that reads them gives up after a short
``lock_timeout``/``statement_timeout`` anyway: a diagnosis must not join the queue it is looking at.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import psycopg

from scryer_runbook.diagnosis.core import connect
from scryer_runbook.i18n import _

__all__ = [
    "LOCK_WAITS_SQL",
    "MIGRATION_LOCK_SQL",
    "BlockedSession",
    "bounded_connect",
    "lock_waits",
    "root_blockers",
    "show_lock_tree",
    "migration_lock",
    "show_migration_lock",
    "advisory_key_parts",
    "age_text",
    "diagnose_blocking",
    "migration_pids",
    "end_blocker_sql",
    "session_states",
    "show_states",
    "stop_migration_sql",
    "wait_until_gone",
]

# Every session of this database that waits for a lock or holds one somebody waits for (shown on the page).
LOCK_WAITS_SQL = """
SELECT a.pid, a.application_name, a.state,
       pg_blocking_pids(a.pid) AS blocked_by,
       (SELECT l.mode || ' on ' || coalesce(l.relation::regclass::text, l.locktype)
          FROM pg_locks l WHERE l.pid = a.pid AND NOT l.granted LIMIT 1) AS waits_for,
       floor(extract(epoch FROM now() - a.xact_start))::int AS xact_seconds,
       floor(extract(epoch FROM now() - a.state_change))::int AS state_seconds,
       left(regexp_replace(a.query, '\\s+', ' ', 'g'), 60) AS query
FROM pg_stat_activity a
WHERE a.datname = current_database() AND a.pid <> pg_backend_pid()
  AND (cardinality(pg_blocking_pids(a.pid)) > 0
       OR a.pid IN (SELECT unnest(pg_blocking_pids(w.pid)) FROM pg_stat_activity w))
ORDER BY a.xact_start NULLS LAST, a.pid
"""

# Who holds or waits for pg_advisory_lock(<key>): a bigint key shows as two unsigned 32-bit halves. (A process
# that polls with pg_try_advisory_lock(), as Scryer's env.py does, holds and waits for nothing between tries.)
MIGRATION_LOCK_SQL = """
SELECT l.pid, l.granted, a.application_name, a.state,
       floor(extract(epoch FROM now() - a.backend_start))::int AS session_seconds,
       floor(extract(epoch FROM now() - a.query_start))::int AS query_seconds,
       left(regexp_replace(a.query, '\\s+', ' ', 'g'), 60) AS query
FROM pg_locks l LEFT JOIN pg_stat_activity a ON a.pid = l.pid
WHERE l.locktype = 'advisory'
  AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
  AND l.classid = %s::bigint::oid AND l.objid = %s::bigint::oid AND l.objsubid = 1
ORDER BY NOT l.granted, a.backend_start
"""


@dataclass(frozen=True)
class BlockedSession:
    """One row of LOCK_WAITS_SQL."""

    pid: int
    application: str
    state: str | None
    blocked_by: list[int]
    waits_for: str | None  # "AccessExclusiveLock on tasks" (None: waits for nothing)
    xact_seconds: int | None
    state_seconds: int | None
    query: str


def bounded_connect(url: str, lock_timeout: str = "1s", statement_timeout: str = "5s") -> psycopg.Connection:
    """The read-only diagnosis connection, which gives up instead of queueing behind a lock."""
    conn = connect(url)
    # session settings, allowed in a read-only transaction
    conn.execute(f"SET lock_timeout = '{lock_timeout}'")
    conn.execute(f"SET statement_timeout = '{statement_timeout}'")
    conn.commit()
    return conn


def lock_waits(conn: psycopg.Connection) -> list[BlockedSession]:
    return [BlockedSession(*row) for row in conn.execute(LOCK_WAITS_SQL)]


def root_blockers(sessions: list[BlockedSession]) -> list[BlockedSession]:
    """The sessions that block others and wait for nobody: where the queue starts."""
    blocking = {pid for session in sessions for pid in session.blocked_by}
    return [session for session in sessions if session.pid in blocking and not session.blocked_by]


def age_text(seconds: int | None) -> str:
    """A duration as an engineer reads it; under 10 s it is not the problem (and reads the same on every run)."""
    if seconds is None:
        return "?"
    if seconds < 10:
        return _("<10 s")
    if seconds < 120:
        return f"{seconds} s"
    return f"{seconds // 60} min" if seconds < 7200 else f"{seconds // 3600} h"


def _line(session: BlockedSession) -> str:
    what = (
        _("waits for {lock}").format(lock=session.waits_for)
        if session.waits_for
        else _("{state} for {age}, in a transaction for {xact}").format(
            state=session.state, age=age_text(session.state_seconds), xact=age_text(session.xact_seconds)
        )
    )
    return f"pid {session.pid} [{session.application or '?'}] {what}: {session.query}"


def show_lock_tree(sessions: list[BlockedSession]) -> None:
    """Print the wait queue as a tree: each root blocker, then who waits for it, and so on."""
    if not sessions:
        print(_("no session waits for a lock in this database"))
        return
    by_pid = {session.pid: session for session in sessions}
    shown: set[int] = set()

    def walk(session: BlockedSession, depth: int) -> None:
        shown.add(session.pid)
        print("    " * depth + ("└─ " if depth else "") + _line(session))
        for waiter in sessions:
            if waiter.blocked_by and waiter.blocked_by[0] == session.pid and waiter.pid not in shown:
                walk(waiter, depth + 1)

    for root in root_blockers(sessions):
        walk(root, 0)
    for session in sessions:  # a wait cycle (deadlock in the making) has no root: list what is left
        if session.pid not in shown and session.pid in by_pid:
            walk(session, 0)


def advisory_key_parts(key: int) -> tuple[int, int]:
    """``pg_advisory_lock(key)`` as pg_locks shows it: (classid, objid), the high and low 32 bits."""
    unsigned = key & 0xFFFFFFFFFFFFFFFF
    return unsigned >> 32, unsigned & 0xFFFFFFFF


def migration_lock(conn: psycopg.Connection, key: int) -> list[tuple]:
    """(pid, granted, application, state, session seconds, query seconds, query) for the migration lock."""
    return conn.execute(MIGRATION_LOCK_SQL, advisory_key_parts(key)).fetchall()


def show_migration_lock(rows: list[tuple], key: int) -> None:
    if not rows:
        print(_("the migration lock ({key}) is free").format(key=key))
        return
    for pid, granted, application, state, session_seconds, query_seconds, query in rows:
        print(
            (
                _(
                    "pid {pid} [{app}] HOLDS the migration lock ({key}); session started {session} ago; "
                    "{state}, current statement running for {query_age}: {query}"
                )
                if granted
                else _("pid {pid} [{app}] waits for the migration lock ({key}) for {query_age}: {query}")
            ).format(
                pid=pid,
                app=application or "?",
                key=key,
                session=age_text(session_seconds),
                state=state,
                query_age=age_text(query_seconds),
                query=query,
            )
        )


def diagnose_blocking(url: str, key: int | None) -> tuple[list[BlockedSession], list[tuple]]:
    """Print the wait queue and the migration lock (``key``: None when the project names none); returns
    (sessions, migration lock rows)."""
    with bounded_connect(url) as conn:
        sessions, lock_rows = lock_waits(conn), migration_lock(conn, key) if key is not None else []
    show_lock_tree(sessions)
    if key is None:
        print(_("no migration lock key known for this project ([scryer_runbook] lock_key in alembic.ini)"))
    else:
        show_migration_lock(lock_rows, key)
    return sessions, lock_rows


DDL = ("ALTER ", "CREATE ", "DROP ", "TRUNCATE ", "REINDEX ", "VACUUM FULL", "CLUSTER ")


def migration_pids(sessions: list[BlockedSession], lock_rows: list[tuple]) -> list[int]:
    """The migration backends to end to unblock the app, in a safe order: those waiting for the migration
    lock first (else one of them takes over and queues again), then DDL waiting for a table lock, then the
    lock holder."""
    waiting = [row[0] for row in lock_rows if not row[1]]
    ddl = [
        s.pid
        for s in sessions
        if s.waits_for and s.query.lstrip().upper().startswith(DDL) and s.pid not in waiting
    ]
    holders = [row[0] for row in lock_rows if row[1] and row[0] not in ddl]
    return waiting + ddl + holders


def stop_migration_sql(pids: list[int], states: dict[int, str | None]) -> list[str]:
    """Cancel a backend that runs a statement (its transaction rolls back, its client decides what next);
    terminate one that is idle between statements (a poller for the migration lock), which ignores a cancel."""
    return [
        f"SELECT pg_cancel_backend({pid})"
        if states.get(pid) == "active"
        else f"SELECT pg_terminate_backend({pid})"
        for pid in pids
    ]


def end_blocker_sql(session: BlockedSession) -> str:
    """pg_cancel_backend interrupts a running statement only: a session idle in its transaction ignores it and
    keeps its locks, so that one must be terminated (its transaction rolls back)."""
    if session.state and session.state.startswith("idle in transaction"):
        return f"SELECT pg_terminate_backend({session.pid})"
    return f"SELECT pg_cancel_backend({session.pid})"


def session_states(url: str, pids: list[int]) -> dict[int, str | None]:
    """The state of each backend now (None when it has ended)."""
    with bounded_connect(url) as conn:
        found = dict(
            conn.execute("SELECT pid, state FROM pg_stat_activity WHERE pid = ANY(%s)", [pids]).fetchall()
        )
    return {pid: found.get(pid) for pid in pids}


def show_states(states: dict[int, str | None]) -> None:
    for pid, state in states.items():
        print(f"pid {pid}: " + (state or _("gone (the session has ended)")))


def wait_until_gone(url: str, pids: list[int], seconds: float = 10) -> dict[int, str | None]:
    """Poll (read-only) until the backends have ended, at most ``seconds``; returns their last states."""
    deadline = time.monotonic() + seconds
    while True:
        states = session_states(url, pids)
        if not any(states.values()) or time.monotonic() > deadline:
            return states
        time.sleep(0.05)
