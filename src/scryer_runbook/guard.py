"""Run a project's own CLI (``alembic``, ``flask db``) in a process that can reach only the databases we allow.

A project's env.py usually builds its own engine from its own settings and ignores whatever URL a tool hands
it. So a runbook never trusts env.py to go where it is told: the command runs as

    python -m scryer_runbook.guard alembic -c alembic.ini current

with ``SCRYER_GUARD_ALLOW`` holding the only (host, port, database) triples it may connect to (an empty list: none
at all, for offline ``--sql`` rendering). Every PostgreSQL driver entry point in the process is wrapped before the
project is imported; any other connection fails at once with ``GUARD_REFUSED`` in its message, and nothing is sent.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import sys

ALLOW_ENV = "SCRYER_GUARD_ALLOW"
GUARD_REFUSED = "scryer-runbook guard refused a connection"
LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1", ""}


def endpoint(params: dict) -> tuple[str, str, str]:
    """(host, port, database) as libpq would resolve them from connection parameters and the PG* variables."""
    host = params.get("host") or params.get("hostaddr") or os.environ.get("PGHOST") or ""
    host = "localhost" if host in LOCAL_HOSTS or host.startswith("/") else host.lower()
    port = str(params.get("port") or os.environ.get("PGPORT") or 5432)
    user = params.get("user") or os.environ.get("PGUSER") or ""
    database = params.get("dbname") or params.get("database") or os.environ.get("PGDATABASE") or user
    return host, port, database


_restricted: list[tuple[str, str, str]] | None = None  # None: no restriction (set by main() or only())


def allowed_endpoints() -> list[tuple[str, str, str]] | None:
    return _restricted


@contextlib.contextmanager
def only(urls: list[str]):
    """Inside this block, this process may connect to ``urls`` only ([]: nothing), e.g. while a project's env.py
    is read in-process."""
    global _restricted  # noqa: PLW0603 - the patched drivers read it on every connect
    install()
    saved, _restricted = _restricted, json.loads(allow_env(urls))
    _restricted = [tuple(item) for item in _restricted]
    try:
        yield
    finally:
        _restricted = saved


def allow_env(urls: list[str]) -> str:
    """The ``SCRYER_GUARD_ALLOW`` value for these libpq URLs (their passwords are not part of it)."""
    import psycopg  # noqa: PLC0415

    return json.dumps([endpoint(psycopg.conninfo.conninfo_to_dict(url)) for url in urls])


def check(params: dict) -> None:
    allowed = allowed_endpoints()
    if allowed is None:
        return
    target = endpoint(params)
    if target not in allowed:
        import psycopg  # noqa: PLC0415

        where = (
            "no database at all (offline rendering)"
            if not allowed
            else " or ".join(f"{host}:{port}/{database}" for host, port, database in allowed)
        )
        raise psycopg.OperationalError(
            f"{GUARD_REFUSED} to {target[0]}:{target[1]}/{target[2]}: this command may reach {where}. "
            "The project's settings name another database than the runbook's target."
        )


_installed = False


def install() -> None:
    """Wrap psycopg (3), and psycopg2 and asyncpg when installed, so only allowed endpoints can be reached."""
    global _installed  # noqa: PLW0603 - wrap once per process
    if _installed:
        return
    _installed = True
    import psycopg  # noqa: PLC0415
    from psycopg.conninfo import conninfo_to_dict, make_conninfo  # noqa: PLC0415

    options = ("autocommit", "prepare_threshold", "context", "row_factory", "cursor_factory")

    def guarded(original):
        def connect(cls, conninfo="", **kwargs):
            params = {key: value for key, value in kwargs.items() if key not in options}
            check(conninfo_to_dict(make_conninfo(conninfo, **params)))
            return original(cls, conninfo, **kwargs)

        return classmethod(connect)

    psycopg.Connection.connect = guarded(psycopg.Connection.connect.__func__)
    psycopg.AsyncConnection.connect = guarded(psycopg.AsyncConnection.connect.__func__)
    psycopg.connect = psycopg.Connection.connect

    if importlib.util.find_spec("psycopg2"):
        import psycopg2  # noqa: PLC0415
        from psycopg2.extensions import make_dsn, parse_dsn  # noqa: PLC0415

        original2 = psycopg2.connect

        def connect2(dsn=None, connection_factory=None, cursor_factory=None, **kwargs):
            check(parse_dsn(make_dsn(dsn, **kwargs)))
            return original2(dsn, connection_factory, cursor_factory, **kwargs)

        psycopg2.connect = connect2

    if importlib.util.find_spec("asyncpg"):
        import asyncpg  # noqa: PLC0415

        original_async = asyncpg.connect

        async def connect3(dsn=None, *args, **kwargs):
            params = conninfo_to_dict(dsn.replace("postgresql+asyncpg", "postgresql")) if dsn else {}
            params.update(
                {k: v for k, v in kwargs.items() if k in ("host", "port", "user", "database") and v}
            )
            check(params)
            return await original_async(dsn, *args, **kwargs)

        asyncpg.connect = connect3


def main(argv: list[str]) -> int:
    """``python -m scryer_runbook.guard alembic ARGS`` or ``... flask db ARGS``: the real CLI, guarded."""
    global _restricted  # noqa: PLW0603
    install()
    _restricted = [tuple(item) for item in json.loads(os.environ.get(ALLOW_ENV, "[]"))]
    tool, args = argv[0], argv[1:]
    if tool == "alembic":
        from alembic.config import main as alembic_main  # noqa: PLC0415

        sys.argv = ["alembic", *args]
        alembic_main(argv=args, prog="alembic")
        return 0
    if tool == "flask":
        from flask.cli import main as flask_main  # noqa: PLC0415

        sys.argv = ["flask", *args]
        flask_main()
        return 0
    raise SystemExit(f"scryer_runbook.guard: unknown tool {tool!r} (alembic or flask)")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
