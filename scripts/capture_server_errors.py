"""Capture the errors a Chinese-locale PostgreSQL prints, for the troubleshooting pages' search.

A server set up with ``lc_messages = 'zh_CN.UTF-8'`` (common on self-hosted servers in China) prints its errors
from PostgreSQL's own zh_CN catalogue. This script starts such a server, provokes each error the troubleshooting
pages cover, and writes the exact lines to docs/snippets/server-errors.zh/<section>.txt, one file per section of
docs/troubleshooting/index.*.md, which both pages include. tests/test_server_errors.py captures them again and
fails when a file differs.

    .venv/bin/python scripts/capture_server_errors.py          # rewrite the snippets
    .venv/bin/python scripts/capture_server_errors.py --check  # exit 1 if they are out of date
"""

from __future__ import annotations

import argparse
import secrets
import sys
import threading
import time
from pathlib import Path

import psycopg
from psycopg import sql

from scryer_runbook import scenarios, server, urls

SNIPPETS = Path(__file__).resolve().parents[1] / "docs" / "snippets" / "server-errors.zh"
LC_MESSAGES = {"lc_messages": "zh_CN.UTF-8"}
NAME = "scryer"  # the role and database the pages' English lines name


def connect_error(**connect) -> str:
    """The server's line from a failed connection, as libpq reports it after "...failed: " (severity included)."""
    try:
        psycopg.connect(connect_timeout=10, **connect).close()
    except psycopg.OperationalError as error:
        return str(error).strip().splitlines()[0].rsplit("failed: ", 1)[-1]
    raise RuntimeError(f"expected the connection to fail: {urls.mask_text(str(connect))}")


def statement_error(conn: psycopg.Connection, statement: str) -> str:
    """The server's line for a failed statement, as psql and the server log show it: ``错误:  ...``."""
    try:
        conn.execute(statement)
    except psycopg.Error as error:
        return f"{error.diag.severity}:  {error.diag.message_primary}"
    raise RuntimeError(f"expected {statement!r} to fail")


def concurrent_create(url: str) -> str:
    """Two sessions create the same table at once (two containers running `alembic upgrade head`): the second one
    waits for the first one's catalogue row, then fails on its unique index."""
    with psycopg.connect(url) as first, psycopg.connect(url, autocommit=True) as second:
        first.execute("CREATE TABLE tasks (id int)")
        result = {}
        racer = threading.Thread(
            target=lambda: result.update(line=statement_error(second, "CREATE TABLE tasks (id int)"))
        )
        racer.start()
        while not first.execute("SELECT count(*) FROM pg_locks WHERE NOT granted").fetchone()[0]:
            time.sleep(0.01)  # until the second session waits
        first.commit()
        racer.join()
    return result["line"]


def lock_timeout(url: str) -> str:
    """A migration waits for a table the app holds a lock on, longer than its lock_timeout."""
    with psycopg.connect(url) as app, psycopg.connect(url, autocommit=True) as migration:
        app.execute("LOCK TABLE tasks IN ACCESS SHARE MODE")
        migration.execute("SET lock_timeout = '100ms'")
        return statement_error(migration, "ALTER TABLE tasks ADD COLUMN done boolean")


def capture() -> dict[str, list[str]]:
    """section id of docs/troubleshooting/index.*.md -> the lines a Chinese-locale server prints for it."""
    sections: dict[str, list[str]] = {
        "already-exists": [],
        "not-ready": [],
        "permissions": [],
        "concurrent-migrations": [],
        "migration-blocked": [],
    }
    for state in ("starting", "not-accepting", "shutting-down"):
        with scenarios.server_in_state(state, settings=LC_MESSAGES) as url:
            parsed = urls.parse(url)
            sections["not-ready"].append(
                connect_error(
                    host=parsed.host, port=parsed.port, user=parsed.username, dbname=parsed.database
                )
            )
    srv = server.start_server(settings=LC_MESSAGES)
    try:
        tcp = {"host": "127.0.0.1", "port": srv.port}
        admin = psycopg.connect(srv.url, autocommit=True)
        role_missing = connect_error(host=str(srv.root / "sockets"), port=srv.port, user=NAME, dbname=NAME)
        password = secrets.token_urlsafe(16)  # never printed
        admin.execute(
            sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(sql.Identifier(NAME), sql.Literal(password))
        )
        sections["not-ready"] += [
            connect_error(**tcp, user=NAME, password=password + "-wrong", dbname="postgres"),
            role_missing,
            connect_error(**tcp, user=server.SUPERUSER, dbname=NAME),
        ]
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(NAME)))
        admin.execute(sql.SQL("REVOKE CONNECT ON DATABASE {} FROM PUBLIC").format(sql.Identifier(NAME)))
        no_connect = connect_error(**tcp, user=NAME, password=password, dbname=NAME)
        admin.execute(sql.SQL("GRANT CONNECT ON DATABASE {0} TO {0}").format(sql.Identifier(NAME)))

        owner_url = f"postgresql://{server.SUPERUSER}@127.0.0.1:{srv.port}/{NAME}"
        with psycopg.connect(owner_url, autocommit=True) as owner:
            owner.execute("CREATE TABLE users (id serial PRIMARY KEY, name text)")
            sections["already-exists"].append(
                statement_error(owner, "CREATE TABLE users (id serial PRIMARY KEY)")
            )
            owner.execute(sql.SQL("GRANT INSERT ON users TO {}").format(sql.Identifier(NAME)))
        app_url = urls.libpq(urls.parse(owner_url).set(username=NAME, password=password))
        with psycopg.connect(app_url, autocommit=True) as app:
            sections["permissions"] += [
                statement_error(app, "SELECT * FROM users"),
                statement_error(app, "CREATE TABLE tasks (id int)"),
                statement_error(app, "ALTER TABLE users ADD COLUMN email text"),
                statement_error(app, "INSERT INTO users (name) VALUES ('x')"),
                no_connect,
            ]
        sections["concurrent-migrations"].append(concurrent_create(owner_url))
        sections["migration-blocked"].append(lock_timeout(owner_url))
        admin.close()
    finally:
        srv.stop()
    return sections


def render(sections: dict[str, list[str]]) -> dict[Path, str]:
    """The snippet files: one per troubleshooting section, one line per error."""
    return {
        SNIPPETS / f"{section}.txt": "".join(f"{line}\n" for line in lines)
        for section, lines in sections.items()
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--check", action="store_true", help="exit 1 if a snippet differs from a fresh capture"
    )
    args = parser.parse_args(argv)
    files = render(capture())
    if args.check:
        stale = [path for path, text in files.items() if not path.exists() or path.read_text("utf-8") != text]
        print(f"out of date (run {sys.argv[0]}): {stale}" if stale else "up to date")
        return 1 if stale else 0
    SNIPPETS.mkdir(parents=True, exist_ok=True)
    for path, text in files.items():
        path.write_text(text, encoding="utf-8")
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
