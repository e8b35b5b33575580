"""Helpers for the start-up tests: databases and environments set up the way docker-compose.yml sets them up."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from pathlib import Path

import psycopg
from psycopg import sql
from sqlalchemy.engine import URL, make_url

from scryer_runbook import project, sandbox, server

DOCKER = project.REPO_ROOT / "docker"
BIN = Path(sys.executable).parent  # alembic and scryer-runbook, on PATH as in the image


def owner_and_app(scratch: sandbox.Sandbox) -> tuple[str, str]:
    """A scratch database with an owner role and a DML-only app role, as docker/initdb/ sets up `scryer`:
    (owner URL, app URL)."""
    database = scratch.database("startup")
    owner, owner_password = scratch.role("owner")
    app, app_password = scratch.role("app")
    names = {
        "db": sql.Identifier(make_url(database).database),
        "owner": sql.Identifier(owner),
        "app": sql.Identifier(app),
    }
    with psycopg.connect(database, autocommit=True) as conn:
        for statement in (
            "ALTER DATABASE {db} OWNER TO {owner}",  # PostgreSQL 15: the owner may create in schema public
            "GRANT USAGE ON SCHEMA public TO {app}",
            "ALTER DEFAULT PRIVILEGES FOR ROLE {owner} IN SCHEMA public"
            " GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {app}",
            "ALTER DEFAULT PRIVILEGES FOR ROLE {owner} IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO {app}",
        ):
            conn.execute(sql.SQL(statement).format(**names))
    return sandbox.as_role(database, owner, owner_password), sandbox.as_role(database, app, app_password)


def container_env(app_url: str, owner_url: str, **extra: str) -> dict[str, str]:
    """scryer-dev's environment: the app's POSTGRES_* pieces, the owner's DATABASE_URL (for Alembic)."""
    app = make_url(app_url)
    return {
        **os.environ,
        "PATH": f"{BIN}:{os.environ['PATH']}",
        "PYTHONUNBUFFERED": "1",
        "POSTGRES_HOST": app.host,
        "POSTGRES_PORT": str(app.port),
        "POSTGRES_USER": app.username,
        "POSTGRES_PASSWORD": app.password or "",
        "POSTGRES_DB": app.database,
        "DATABASE_URL": owner_url,
        "WAIT_TIMEOUT": "10",
        "WAIT_INTERVAL": "1",
        **extra,
    }


@contextlib.contextmanager
def compose_server():
    """A new server set up by the real docker/initdb script, as the postgres service's first start does:
    yields (owner URL, app URL) for the `scryer` database."""
    srv = server.start_server()
    try:
        passwords = {"SCRYER_OWNER_PASSWORD": "owner-s3cr3t-pw", "SCRYER_APP_PASSWORD": "app-s3cr3t-pw"}
        # The image runs the script as its superuser (POSTGRES_USER) against the server it is initialising.
        subprocess.run(
            [DOCKER / "initdb" / "10-scryer-roles.sh"],
            check=True,
            capture_output=True,
            env={
                **os.environ,
                **passwords,
                "POSTGRES_USER": server.SUPERUSER,
                "PGHOST": "127.0.0.1",
                "PGPORT": str(srv.port),
                "PATH": f"{srv.bindir}:{os.environ['PATH']}",
            },
        )  # psql
        url = URL.create("postgresql", host="127.0.0.1", port=srv.port, database="scryer")
        yield (
            url.set(username="scryer", password=passwords["SCRYER_OWNER_PASSWORD"]).render_as_string(False),
            url.set(username="scryer_app", password=passwords["SCRYER_APP_PASSWORD"]).render_as_string(False),
        )
    finally:
        srv.stop()
