"""Reproduce steps for the not-ready runbook: real servers in the states the start-up wait meets.

Every server started here is stopped when its `with` block ends, also when the block fails, and at interpreter
exit if a kernel dies inside one."""

from __future__ import annotations

import atexit
import contextlib
import os
import random
import shlex
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql

from scryer_runbook import i18n, problems, server, urls
from scryer_runbook import project as projects
from scryer_runbook import sandbox as sandboxes
from scryer_runbook.runbook import print_instead


def unused_port() -> int:
    """A loopback port nothing listens on, below the kernel's ephemeral range.

    ``server.free_port()`` (and so every server started meanwhile, by this process or a parallel test worker) takes
    its ports from the ephemeral range; a port below it stays refused until someone starts a server on it on purpose.
    """
    low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    while True:
        port = random.randrange(max(1024, low - 8192), low)
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) != 0:
                return port


@contextlib.contextmanager
def _stopped_at_exit(srv):
    """Stop ``srv`` when the block ends, or at interpreter exit if it never does."""
    atexit.register(srv.stop)
    try:
        yield srv
    finally:
        srv.stop()
        atexit.unregister(srv.stop)


@dataclass
class LateServer:
    """A server that starts ``delay`` seconds after the block begins, on a port chosen up front."""

    port: int
    delay: float
    server: server.LocalServer | None = None  # once started
    error: BaseException | None = None

    @property
    def url(self) -> str:
        return f"postgresql://{server.SUPERUSER}@127.0.0.1:{self.port}/postgres"


@contextlib.contextmanager
def late_server(delay: float = 2.0, port: int | None = None):
    """A server that comes up ``delay`` seconds late (a Compose db container still initialising); stopped on exit."""
    late = LateServer(port or unused_port(), delay)
    cancelled = threading.Event()

    def start() -> None:
        if cancelled.wait(delay):
            return
        try:
            late.server = server.start_server(port=late.port)
            atexit.register(late.server.stop)
        except BaseException as error:  # noqa: BLE001 - reported to the waiting side via ``late.error``
            late.error = error

    thread = threading.Thread(target=start, name=f"late-server-{late.port}", daemon=True)
    thread.start()
    try:
        yield late
    finally:
        cancelled.set()
        thread.join()
        if late.server:
            late.server.stop()
            atexit.unregister(late.server.stop)


NOT_ACCEPTING_STATES = {
    # state: (what is done to a real server, the FATAL line a client then gets)
    "starting": (
        "archive recovery whose restore_command hangs: the startup process never finishes",
        "the database system is starting up",
    ),
    "not-accepting": (
        "a standby (standby.signal) with hot_standby = off",
        "the database system is not accepting connections",
    ),
    "shutting-down": (
        "`pg_ctl stop -m smart` while a session is still open",
        "the database system is shutting down",
    ),
}


@contextlib.contextmanager
def server_in_state(state: str, restore_seconds: int = 300, settings: dict[str, str] | None = None):
    """A real server that answers but refuses new sessions, in one of ``NOT_ACCEPTING_STATES``; yields its URL.
    ``settings`` go to ``server.start_server`` (e.g. a Chinese ``lc_messages``).

    In ``starting`` each WAL restore attempt takes ``restore_seconds`` and then fails; after a few attempts recovery
    ends and the server accepts sessions (a few seconds for ``restore_seconds=1``; never, in practice, by default).

    "not yet accepting connections" (a hot standby before it is consistent) is not made here: it needs WAL
    streaming from a primary and is not deterministic; ``starting`` shows the same kind of wait.
    """
    if state not in NOT_ACCEPTING_STATES:
        raise ValueError(f"unknown state {state!r}; one of {sorted(NOT_ACCEPTING_STATES)}")
    user = server.server_account()  # the same unprivileged account the server runs as
    pg_ctl = None
    with _stopped_at_exit(server.start_server(settings=settings)) as srv:
        pg_ctl = [str(srv.bindir / "pg_ctl"), "-D", str(srv.datadir), "-l", str(srv.root / "server.log")]
        session = None
        try:
            if state == "shutting-down":
                session = psycopg.connect(srv.url, autocommit=True)
                server.run_as_user([*pg_ctl, "-m", "smart", "-W", "stop"], user)
            else:
                signal, setting = (
                    ("recovery.signal", f"restore_command = 'sleep {restore_seconds:d}; false'")
                    if state == "starting"
                    else ("standby.signal", "hot_standby = off")
                )
                for name, text in ((signal, ""), ("postgresql.auto.conf", None)):
                    path = srv.datadir / name
                    if text is None:
                        with open(path, "a") as handle:
                            handle.write(f"{setting}\n")
                    else:
                        path.write_text(text)
                        if user:
                            os.chown(path, user.pw_uid, user.pw_gid)
                # restart keeps the original options (postmaster.opts); -W: "starting" never reports ready
                server.run_as_user(
                    [*pg_ctl, "-m", "fast", "-W", "restart"],
                    user,
                    stdin=subprocess.DEVNULL,
                    start_new_session=True,
                )
            _until_refused_with(srv.url, state)
            yield srv.url
        finally:
            if session is not None:
                session.close()


def _until_refused_with(url: str, state: str, timeout: float = 15) -> None:
    """Wait until a connection attempt fails as ``state`` does, in the server's language (the server is (re)starting
    or stopping meanwhile)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            psycopg.connect(url, connect_timeout=2).close()
            last = "connected"
        except psycopg.OperationalError as error:
            last = str(error)
            if problems.explain_connect_error(error, urls.parse(url)).kind == state:
                return
        if time.monotonic() > deadline:
            raise RuntimeError(f"server did not reach the state {state!r}; last attempt: {last}")
        time.sleep(0.05)


@contextlib.contextmanager
def wrong_password_url(box: sandboxes.Sandbox, url: str):
    """``url``'s server reached as a scratch login role with the wrong password.

    A server with ``trust`` authentication (a common local set-up) never checks passwords; then the case is
    reproduced on a local server started here, whose hba file does (stopped when the block ends)."""
    role, password = box.role("app")
    wrong = sandboxes.as_role(url, role, password + "-wrong")
    try:
        psycopg.connect(wrong, connect_timeout=5).close()
    except psycopg.OperationalError:
        yield wrong  # the server checked the password and refused it
        return
    local = server.start_server()
    try:
        with sandboxes.Sandbox(local.url) as own:
            role, password = own.role("app")
            yield sandboxes.as_role(local.url, role, password + "-wrong")
    finally:
        local.stop()


def missing_database_url(url: str) -> str:
    """``url`` with a database name that does not exist (a scratch name, never created)."""
    return urls.libpq(urls.parse(url).set(database=sandboxes.scratch_name("missing")))


def _maintenance(url: str) -> tuple[str, str]:
    """(database name, the same server and credentials on the ``postgres`` maintenance database)."""
    parsed = urls.parse(url)
    return parsed.database, urls.libpq(parsed.set(database="postgres"))


def drop_database(url: str) -> None:
    """The reproduce step: the app's database is gone (a fresh volume, POSTGRES_DB renamed, an init that failed)."""
    name, maintenance = _maintenance(url)
    with psycopg.connect(maintenance, autocommit=True, connect_timeout=10) as conn:
        conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


def create_database(url: str, apply: bool) -> bool:
    """The fix for "database does not exist": CREATE DATABASE as ``url``'s own user (who then owns it).

    Applied only when ``apply``; otherwise the exact command is printed. Returns whether it was created.
    """
    name, maintenance = _maintenance(url)
    statement = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
    rendered = statement.as_string(None)
    command = f"psql {urls.masked(maintenance)!r} -c '{rendered}'"
    if not apply:
        print_instead([command])
        return False
    try:
        with psycopg.connect(maintenance, autocommit=True, connect_timeout=10) as conn:
            print(f"{rendered};")
            conn.execute(statement)
    except psycopg.errors.InsufficientPrivilege as error:
        print(
            f"could not create it as {urls.parse(url).username!r}: {error}\n"
            f"run it as a role with CREATEDB (e.g. the postgres superuser):\n    {command}"
        )
        return False
    return True


def run_wait_script(url: str, timeout: int = 3, interval: int = 1):
    """``docker/wait-for-postgres.sh HOST PORT`` as the container runs it, for ``url``'s host and port, with ``url``
    as DATABASE_URL (the app's role and database, which its real-connection step logs in with).

    The port goes in as ``$PORT`` so the printed command is the one that ran and stays the same from run to run.
    """
    parsed = urls.parse(url)
    env = {
        **os.environ,
        "LC_ALL": "C.UTF-8",
        "SCRYER_LANG": i18n.current(),  # no perl locale warnings
        "WAIT_TIMEOUT": str(timeout),
        "WAIT_INTERVAL": str(interval),
        "PORT": str(parsed.port or 5432),
        "DATABASE_URL": urls.libpq(parsed),
        "PYTHONUNBUFFERED": "1",
        # the script execs `scryer-runbook wait`; a kernel's PATH may lack this interpreter's bin
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    env.pop(
        "POSTGRES_HOST", None
    )  # else `scryer-runbook wait` would check the POSTGRES_* settings instead of url
    script = f'docker/wait-for-postgres.sh {shlex.quote(parsed.host or "localhost")} "$PORT"'
    done = subprocess.run(
        ["bash", "-c", f"exec bash {script}"],
        cwd=projects.REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=timeout + 60,
    )
    return projects.Result(
        [f"WAIT_TIMEOUT={timeout}", f"WAIT_INTERVAL={interval}", script],
        done.returncode,
        urls.mask_text(done.stdout),
    )
