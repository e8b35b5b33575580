"""Scratch databases and roles: uniquely named, always dropped.

Names are ``scry_<run tag>_<label>_<random>``. The run tag comes from ``SCRYER_SANDBOX_TAG`` (a test run sets it
once for all its workers and notebook kernels), so two runs on one server never touch each other's objects and a
run can sweep up exactly what it left behind.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import re
import secrets

import psycopg
from psycopg import sql
from sqlalchemy.engine import make_url

from scryer_runbook import server, urls

PREFIX = "scry"
TAG_ENV = "SCRYER_SANDBOX_TAG"


def run_tag() -> str:
    return os.environ.setdefault(TAG_ENV, secrets.token_hex(3))


def scratch_name(label: str) -> str:
    label = re.sub(r"[^a-z0-9]+", "_", label.lower()).strip("_")[:24] or "x"
    return f"{PREFIX}_{run_tag()}_{label}_{secrets.token_hex(3)}"


def admin_connect(admin_url: str, dbname: str | None = None) -> psycopg.Connection:
    url = urls.parse(admin_url)
    if dbname:
        url = url.set(database=dbname)
    return psycopg.connect(urls.libpq(url), autocommit=True, connect_timeout=10)


class Sandbox:
    """Scratch objects on the sandbox server (``DATABASE_URL``, else the embedded one), dropped by ``close()``.

    ``close()`` also runs at interpreter exit, so a notebook whose cell failed still cleans up when its kernel stops.
    """

    def __init__(self, admin_url: str | None = None):
        self.admin_url = admin_url or server.admin_url()
        self.databases: list[str] = []
        self.roles: list[str] = []
        atexit.register(self._close_at_exit)

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def database(self, label: str, template: str | None = None) -> str:
        """Create an empty database (or a copy of ``template``) and return its URL with the admin's credentials."""
        name = scratch_name(label)
        query = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
        if template:
            query += sql.SQL(" TEMPLATE {}").format(sql.Identifier(template))
        with admin_connect(self.admin_url) as conn:
            conn.execute(query)
        self.databases.append(name)
        return urls.libpq(urls.parse(self.admin_url).set(database=name))

    def role(self, label: str, *attributes: str) -> tuple[str, str]:
        """Create a login role with a random password; returns (name, password)."""
        name, password = scratch_name(label), secrets.token_urlsafe(12)
        options = sql.SQL(" ").join(sql.SQL(attribute) for attribute in attributes)
        with admin_connect(self.admin_url) as conn:
            conn.execute(
                sql.SQL("CREATE ROLE {} LOGIN PASSWORD {} {}").format(
                    sql.Identifier(name), sql.Literal(password), options
                )
            )
            # Membership lets a CREATEROLE admin that is not a superuser act for the role (ALTER DEFAULT PRIVILEGES
            # FOR ROLE, DROP OWNED BY), which PostgreSQL 15 otherwise refuses.
            conn.execute(sql.SQL("GRANT {} TO CURRENT_USER").format(sql.Identifier(name)))
        self.roles.append(name)
        return name, password

    def _close_at_exit(self) -> None:
        # The server may already be gone (a test run stopping its embedded server first); nothing left to drop then.
        with contextlib.suppress(psycopg.OperationalError):
            self.close()

    def close(self) -> None:
        if not (self.databases or self.roles):
            return
        with admin_connect(self.admin_url) as conn:
            drop_all(conn, self.databases, self.roles)
        self.databases, self.roles = [], []


def as_role(url: str, role: str, password: str) -> str:
    """The same database, reached as another role."""
    return make_url(url).set(username=role, password=password).render_as_string(hide_password=False)


def drop_all(conn: psycopg.Connection, databases: list[str], roles: list[str]) -> None:
    for name in databases:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
    for name in roles:
        # Objects a role owns in a database that still exists (the admin's own) would block DROP ROLE.
        with contextlib.suppress(psycopg.errors.UndefinedObject):
            conn.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(name)))
        conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(name)))


def leftovers(admin_url: str, tag: str | None = None) -> tuple[list[str], list[str]]:
    """Scratch databases and roles of one run (default: this one) that still exist."""
    pattern = f"{PREFIX}\\_{tag or run_tag()}\\_%"
    with admin_connect(admin_url) as conn:
        databases = [
            row[0] for row in conn.execute("SELECT datname FROM pg_database WHERE datname LIKE %s", [pattern])
        ]
        roles = [
            row[0] for row in conn.execute("SELECT rolname FROM pg_roles WHERE rolname LIKE %s", [pattern])
        ]
    return databases, roles


def sweep(admin_url: str, tag: str | None = None) -> tuple[list[str], list[str]]:
    """Drop what a run left behind; returns what was dropped."""
    databases, roles = leftovers(admin_url, tag)
    with admin_connect(admin_url) as conn:
        drop_all(conn, databases, roles)
    return databases, roles
