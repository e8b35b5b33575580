"""Alembic's runtime for Scryer: async on psycopg 3, safe when several containers migrate at once, and short lock
waits (retried) so that a migration never stalls the application's queries for long."""

import asyncio
import logging
import os
import re
import time
import zlib
from logging.config import fileConfig

from alembic import context
from alembic.util import CommandError
from sqlalchemy import Connection, Engine, pool
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.ext.asyncio import create_async_engine

from src.backend.app import settings
from src.backend.app.models import Base

config = context.config
if config.config_file_name is not None and config.attributes.get("configure_logger", True):
    fileConfig(config.config_file_name, disable_existing_loggers=False)
target_metadata = Base.metadata
log = logging.getLogger("alembic.env")

# One key for every Scryer migration run: concurrent `alembic upgrade head` processes queue on it.
MIGRATION_LOCK_KEY = zlib.crc32(b"scryer:alembic") & 0x7FFFFFFF
# CLI commands that only read: they never queue on the migration lock, so they answer while a migration is stuck.
READ_ONLY_COMMANDS = {"current", "check", "heads", "history", "show"}
LOCK_NOT_AVAILABLE = "55P03"  # SQLSTATE of "canceling statement due to lock timeout"
ADVISORY_LOCK_POLL = 0.2  # seconds between two tries for the migration lock
MILLISECONDS = {"ms": 1, "s": 1000, "min": 60_000, "h": 3_600_000}


def setting(name: str) -> str:
    """A migration-session limit: the environment variable (upper case) wins over alembic.ini."""
    return os.environ.get(name.upper()) or config.get_main_option(name)


def milliseconds(name: str) -> int:
    """A duration setting (`100ms`, `2s`, `5min`, `1h`; a bare number is milliseconds, as in PostgreSQL)."""
    value = setting(name)
    match = re.fullmatch(r"\s*(\d+)\s*(ms|s|min|h)?\s*", value or "")
    if not match:
        raise CommandError(f"{name.upper()}={value!r} is not a duration such as 100ms, 2s or 5min")
    return int(match[1]) * MILLISECONDS[match[2] or "ms"]


def lock_schedule() -> list[tuple[int, int]]:
    """(lock_timeout, pause before the next attempt) in ms for each attempt at one revision, as GitLab's
    with_lock_retries does: short waits first, each one twice the previous up to the longest, and growing pauses
    in between so the queries that queued behind a waiting DDL statement get through."""
    wait, longest, pause = (milliseconds(name) for name in
                            ("migration_lock_timeout", "migration_lock_timeout_max", "migration_lock_retry_pause"))
    attempts = setting("migration_lock_attempts")
    if not re.fullmatch(r"\s*[1-9]\d*\s*", attempts or "") or wait < 1:
        raise CommandError(f"MIGRATION_LOCK_ATTEMPTS={attempts!r} must be a whole number from 1, "
                           "MIGRATION_LOCK_TIMEOUT at least 1ms")
    attempts = int(attempts)
    return [(max(wait, min(wait * 2**n, longest)), pause * (n + 1)) for n in range(attempts)]


def command_name() -> str | None:
    """The `alembic` CLI command being run; None through the command API (pytest-alembic, the runbooks)."""
    cmd = getattr(config.cmd_opts, "cmd", None)
    return cmd[0].__name__ if cmd else None


def configure(**kwargs) -> None:
    context.configure(
        target_metadata=target_metadata,
        compare_server_default=True,  # off by default; without it `alembic check` misses default changes
        transaction_per_migration=True,  # a failed revision leaves the ones before it applied
        **kwargs,
    )


def run_migrations_offline() -> None:
    """`alembic upgrade head --sql`: render SQL without a server (the URL only picks the dialect)."""
    try:
        url = settings.database_url()
    except settings.SettingsError:
        url = settings.DRIVER + "://"
    configure(url=url, literal_binds=True, dialect_opts={"paramstyle": "named"})
    with context.begin_transaction():
        context.run_migrations()


def run_migrations(connection: Connection) -> None:
    configure(connection=connection)
    with context.begin_transaction():
        context.run_migrations()


def set_lock_timeout(connection: Connection, ms: int) -> None:
    connection.exec_driver_sql(f"SET lock_timeout = '{ms}ms'")


def run_with_lock_retries(connection: Connection) -> None:
    """Run the pending revisions. A revision whose statement waited longer than lock_timeout for a table lock is
    rolled back (each revision is its own transaction) and tried again, with a longer wait, after a pause; the
    revisions before it stay applied. After the last attempt the lock timeout error ends the run."""
    schedule = lock_schedule()
    attempt = 0

    def revision_applied(**_) -> None:  # the next revision starts again from the shortest wait
        nonlocal attempt
        attempt = 0
        set_lock_timeout(connection, schedule[0][0])

    configure(connection=connection, on_version_apply=revision_applied)
    while True:
        wait, pause = schedule[attempt]
        set_lock_timeout(connection, wait)
        connection.commit()  # see run_locked_migrations: Alembic must not find an open transaction
        try:
            with context.begin_transaction():
                context.run_migrations()
            return
        except DBAPIError as error:
            if getattr(error.orig, "sqlstate", None) != LOCK_NOT_AVAILABLE or attempt + 1 == len(schedule):
                raise
            connection.rollback()
            attempt += 1
            log.warning("migration: a table lock was not granted within %dms; revision rolled back, "
                        "attempt %d of %d in %dms", wait, attempt + 1, len(schedule), pause)
            time.sleep(pause / 1000)


def take_migration_lock(connection: Connection) -> None:
    """Take the session advisory lock, polling for at most migration_advisory_lock_wait (another process is
    migrating). Not a waiting pg_advisory_lock(): a statement that waits keeps a snapshot open, and a CREATE INDEX
    CONCURRENTLY in the migrating session waits for every older snapshot to end: each would wait for the other."""
    wait = milliseconds("migration_advisory_lock_wait")
    deadline = time.monotonic() + wait / 1000
    while not connection.exec_driver_sql(f"SELECT pg_try_advisory_lock({MIGRATION_LOCK_KEY})").scalar():
        connection.commit()  # no transaction, so no snapshot, between tries
        if time.monotonic() >= deadline:
            raise CommandError(f"another session ({migration_lock_holder(connection)}) has held the migration lock "
                               f"for more than {wait}ms: a migration is running or stuck (`scryer-runbook doctor` "
                               "shows what it waits for)")
        time.sleep(ADVISORY_LOCK_POLL)
    connection.commit()


def migration_lock_holder(connection: Connection) -> str | None:
    """The backend holding the migration lock in this database, as `pid N`; None when no session holds it."""
    # Advisory locks belong to one database; a bigint key below 2**32 is classid 0, objid key, objsubid 1.
    pid = connection.exec_driver_sql(
        "SELECT l.pid FROM pg_locks l JOIN pg_database d ON d.oid = l.database WHERE d.datname = current_database() "
        f"AND l.locktype = 'advisory' AND l.granted AND l.classid = 0 AND l.objid = {MIGRATION_LOCK_KEY} "
        "AND l.objsubid = 1").scalar()
    return None if pid is None else f"pid {pid}"


def set_session_limits(connection: Connection, lock_wait: int) -> None:
    set_lock_timeout(connection, lock_wait)
    connection.exec_driver_sql(f"SET statement_timeout = '{milliseconds('migration_statement_timeout')}ms'")


def run_read_only(connection: Connection) -> None:
    """`alembic current`, `check`...: no advisory lock (they answer while a migration runs or is stuck), and the
    longest lock wait of a revision, so that a table a migration holds cannot make them hang either."""
    set_session_limits(connection, lock_wait=lock_schedule()[-1][0])
    holder = migration_lock_holder(connection)
    if holder:
        log.warning("migration: another session (%s) holds the migration lock: a migration is running or stuck",
                    holder)
    connection.commit()
    run_migrations(connection)


def run_locked_migrations(connection: Connection) -> None:
    """Hold a session advisory lock while migrating, so only one process migrates at a time."""
    take_migration_lock(connection)
    set_session_limits(connection, lock_wait=lock_schedule()[0][0])
    # Commit the implicit transaction the statements above began: otherwise Alembic sees an outer transaction,
    # logs "Running upgrade", exits 0 and nothing is persisted. The session-level lock survives the commit.
    connection.commit()
    try:
        run_with_lock_retries(connection)
    except BaseException:
        # A failure outside a revision's own transaction leaves the session's transaction aborted: roll it back,
        # or the unlock below fails too and its error hides the real one.
        connection.rollback()
        raise
    finally:
        connection.exec_driver_sql(f"SELECT pg_advisory_unlock({MIGRATION_LOCK_KEY})")
        connection.commit()


def run_online(connection: Connection) -> None:
    if command_name() in READ_ONLY_COMMANDS:
        run_read_only(connection)
    else:  # writes, and any use through the command API, where the command is not known
        run_locked_migrations(connection)


async def run_async_migrations(url: str) -> None:
    engine = create_async_engine(url, poolclass=pool.NullPool, connect_args={"connect_timeout": 10})
    try:
        async with engine.connect() as connection:
            await connection.run_sync(run_online)
    finally:
        await engine.dispose()


def load_scripts() -> None:
    """Load every revision file before touching the database: a broken one fails here, as one line, instead of
    after Alembic has created (and committed) an empty alembic_version table."""
    try:
        context.script.get_heads()
    except SyntaxError as error:
        raise CommandError(f"syntax error in {error.filename}, line {error.lineno}: {error.msg}") from None


def run_migrations_online() -> None:
    load_scripts()
    given = config.attributes.get("connection")
    if isinstance(given, Engine):  # as pytest-alembic hands in
        with given.connect() as connection:
            run_online(connection)
        return
    if given is not None:  # a connection whose transaction the caller owns
        run_migrations(given)
        return
    try:
        url = settings.database_url()
    except settings.SettingsError as error:
        raise CommandError(str(error)) from None
    try:
        asyncio.run(run_async_migrations(url.render_as_string(hide_password=False)))
    except OperationalError as error:
        if getattr(error.orig, "sqlstate", None):
            raise  # the server ran a statement and failed it: the traceback is what a migration author needs
        # No SQLSTATE: the connection itself failed. One line says where and why (libpq's words, no password).
        raise CommandError(f"cannot connect to {settings.shown(url)}: {settings.first_line(error)}") from None


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
