"""Readiness, the way the start-up wait sees it (pg_isready) and the way the app does (a real login).

Both only attempt connections; a session that does open is read-only.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import psycopg

from scryer_runbook import problems, server, urls
from scryer_runbook.diagnosis.core import connect
from scryer_runbook.project import Result

PG_ISREADY_EXIT = {
    0: "accepting connections",
    1: "rejecting connections (up, but refusing sessions)",
    2: "no response",
    3: "no attempt (bad parameters)",
}

# What to do about each kind of connection failure (problems.explain_connect_error's kinds).
NOT_READY_ACTIONS = {
    "refused": "start the server, or wait for it: nothing listens on that host and port yet",
    "timeout": "check the host, port and firewall: something takes the packets but no PostgreSQL answers",
    "unreachable": "check the network path to the host (Compose network, VPN, security group)",
    "unresolved": "fix the host name in DATABASE_URL / POSTGRES_HOST (the Compose service name, e.g. postgres)",
    "starting": "wait: the server is still starting up (retry, as scryer-runbook wait does)",
    "not-accepting": "a standby or a server in recovery: point the app at the primary, or enable hot_standby",
    "shutting-down": "the server is stopping: find out who stopped it, start it again",
    "password": "fix the password in DATABASE_URL / POSTGRES_PASSWORD, or reset it: ALTER ROLE ... PASSWORD",
    "no-password": "put the password in DATABASE_URL / POSTGRES_PASSWORD",
    "role-missing": "create the role (CREATE ROLE ... LOGIN PASSWORD ...) or fix the user name in the URL",
    "database-missing": "create the database (CREATE DATABASE ...) or fix the database name in the URL",
    "no-connect": "GRANT CONNECT ON DATABASE ... TO the app's role (see the permissions runbook)",
}


def pg_isready_path() -> str:
    """pg_isready from PATH, else ``pg_config --bindir``, else the server binaries this project would run."""
    found = shutil.which("pg_isready")
    if found:
        return found
    try:
        bindir = subprocess.run(
            ["pg_config", "--bindir"], capture_output=True, text=True, check=True
        ).stdout.strip()
        if (Path(bindir) / "pg_isready").exists():
            return str(Path(bindir) / "pg_isready")
    except (OSError, subprocess.CalledProcessError):
        pass
    return str(server.find_bindir() / "pg_isready")


def pg_isready(url: str, user: str | None = None, database: str | None = None, timeout: int = 3) -> Result:
    """`pg_isready -d URL` for ``url``'s host, port, user and database (the password is never passed or shown).

    pg_isready only asks the server whether it takes connections: the user and the database do not change its answer.
    """
    parsed = urls.parse(url)
    # URL.set(password=None) would keep the password: None means "unchanged" there
    target = parsed._replace(
        drivername="postgresql",
        password=None,
        username=user or parsed.username,
        database=database or parsed.database,
    ).render_as_string(hide_password=False)
    args = ["-d", target, "-t", str(timeout)]
    # LC_ALL: Debian's pg_isready is a perl wrapper that warns about every locale that is not generated.
    done = subprocess.run(
        [pg_isready_path(), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=timeout + 10,
        env={**os.environ, "LC_ALL": "C.UTF-8"},
    )
    return Result(["pg_isready", *args], done.returncode, urls.mask_text(done.stdout))


@dataclass
class Attempt:
    """One real login (read-only session) as the URL's user into its database."""

    where: str  # the URL, password masked
    error: str | None  # libpq's text, passwords masked
    problem: problems.Problem | None
    session: tuple | None = None  # (current_user, current_database()) when it worked

    @property
    def ok(self) -> bool:
        return self.error is None

    def show(self) -> Attempt:
        if self.ok:
            print(
                f"connect {self.where}\n  OK: logged in as {self.session[0]!r} to database {self.session[1]!r}"
            )
        else:
            print(
                f"connect {self.where}\n  "
                + self.error.replace("\n", "\n  ")
                + f"\n  => [{self.problem.kind}] {self.problem.summary}"
            )
        return self


def attempt(url: str, connect_timeout: int = 5) -> Attempt:
    """Try to log in as the app would; name the problem when it fails (``problems.explain_connect_error``)."""
    where = urls.masked(urls.parse(url).set(drivername="postgresql"))
    try:
        with connect(url, connect_timeout=connect_timeout) as conn:
            session = conn.execute("SELECT current_user, current_database()").fetchone()
    except psycopg.OperationalError as error:
        return Attempt(
            where, urls.mask_text(str(error).strip()), problems.explain_connect_error(error, urls.parse(url))
        )
    return Attempt(where, None, None, session)


def server_identity(url: str) -> dict:
    """Which server and cluster ``url`` reaches: "database does not exist" is more often the wrong server than a
    missing database. Read over a read-only session to the maintenance database ``postgres`` (the URL's own
    database may be the missing one): address, port, standby or primary, version, cluster name, its databases."""
    with connect(urls.libpq(urls.parse(url).set(database="postgres"))) as conn:
        row = conn.execute("""
            SELECT inet_server_addr()::text, inet_server_port(), pg_is_in_recovery(),
                   current_setting('server_version'), current_setting('cluster_name'),
                   (SELECT string_agg(datname, ', ' ORDER BY datname) FROM pg_database WHERE NOT datistemplate)
        """).fetchone()
    return dict(zip(("address", "port", "standby", "version", "cluster_name", "databases"), row, strict=True))
