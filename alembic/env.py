"""Alembic's runtime for Scryer: async on psycopg 3, safe when several containers migrate at once."""

import asyncio
import os
import zlib
from logging.config import fileConfig

from alembic import context
from alembic.util import CommandError
from sqlalchemy import Connection, Engine, pool
from sqlalchemy.ext.asyncio import create_async_engine

from scryer_runbook import problems, urls
from src.backend.app.models import Base

config = context.config
if config.config_file_name is not None and config.attributes.get("configure_logger", True):
    fileConfig(config.config_file_name, disable_existing_loggers=False)
target_metadata = Base.metadata

# One key for every Scryer migration run: concurrent `alembic upgrade head` processes queue on it.
MIGRATION_LOCK_KEY = zlib.crc32(b"scryer:alembic") & 0x7FFFFFFF


def setting(name: str) -> str:
    """A migration-session limit: the environment variable (upper case) wins over alembic.ini."""
    return os.environ.get(name.upper()) or config.get_main_option(name)


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
        url = urls.sqlalchemy(urls.database_url())
    except urls.BadURL:
        url = urls.PSYCOPG + "://"
    configure(url=url, literal_binds=True, dialect_opts={"paramstyle": "named"})
    with context.begin_transaction():
        context.run_migrations()


def run_migrations(connection: Connection) -> None:
    configure(connection=connection)
    with context.begin_transaction():
        context.run_migrations()


def run_locked_migrations(connection: Connection) -> None:
    """Hold a session advisory lock while migrating, so only one process migrates at a time."""
    connection.exec_driver_sql(f"SET lock_timeout = '{setting('migration_advisory_lock_wait')}'")
    connection.exec_driver_sql(f"SELECT pg_advisory_lock({MIGRATION_LOCK_KEY})")
    connection.exec_driver_sql(f"SET lock_timeout = '{setting('migration_lock_timeout')}'")
    connection.exec_driver_sql(f"SET statement_timeout = '{setting('migration_statement_timeout')}'")
    # Commit the implicit transaction the statements above began: otherwise Alembic sees an outer transaction,
    # logs "Running upgrade", exits 0 and nothing is persisted. The session-level lock survives the commit.
    connection.commit()
    try:
        run_migrations(connection)
    except BaseException:
        # A failure outside a revision's own transaction leaves the session's transaction aborted: roll it back,
        # or the unlock below fails too and its error hides the real one.
        connection.rollback()
        raise
    finally:
        connection.exec_driver_sql(f"SELECT pg_advisory_unlock({MIGRATION_LOCK_KEY})")
        connection.commit()


async def run_async_migrations(url: str) -> None:
    engine = create_async_engine(url, poolclass=pool.NullPool, connect_args={"connect_timeout": 10})
    try:
        async with engine.connect() as connection:
            await connection.run_sync(run_locked_migrations)
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
            run_locked_migrations(connection)
        return
    if given is not None:  # a connection whose transaction the caller owns
        run_migrations(given)
        return
    url = None
    try:
        url = urls.parse(urls.database_url())
        asyncio.run(run_async_migrations(urls.sqlalchemy(url)))
    except Exception as error:
        problem = problems.explain(error, url)
        if problem is None:
            raise  # a failing migration keeps its full traceback: the runbooks quote it
        raise CommandError(problem.line()) from None


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
