"""Reproduce steps for the migration-blocked runbook: a blocker, migrations queued behind it, the app behind both.

Everything started here (sessions, `alembic` processes, app threads) is stopped by ``Stall.close()``, also at
interpreter exit if a cell fails first.
"""

from __future__ import annotations

import atexit
import os
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

from scryer_runbook import diagnosis
from scryer_runbook.i18n import _
from scryer_runbook.scenarios.database_ahead import upgrade_in_process

FIXTURES = Path(__file__).parent / "projects" / "migration-blocked"
PENDING = "005_add_tasks_priority"  # ALTER TABLE tasks ADD COLUMN: needs ACCESS EXCLUSIVE on tasks
BLOCKER_APP, MIGRATION_APP, APP = "nightly-report", "alembic", "scryer-app"
APP_SESSIONS = 3
SAFETY_TIMEOUT = "60s"  # no session started here can outlive a forgotten close() by more than this


def add_pending_ddl(project: Path) -> None:
    """One more revision in a copy of the Scryer project (never the repository's own), whose DDL needs ACCESS
    EXCLUSIVE on tasks."""
    shutil.copy(FIXTURES / f"{PENDING}.py", Path(project) / "alembic" / "versions")


def database_at(url: str, project: Path, revision: str) -> None:
    """Migrate a scratch database to ``revision`` in-process (machinery, faster than a CLI run) and add a task."""
    upgrade_in_process(url, project, revision)
    with psycopg.connect(url) as conn:
        conn.execute(
            "INSERT INTO users (id, username, email) VALUES (gen_random_uuid(), 'ada', 'ada@example.com')"
        )
        conn.execute(
            "INSERT INTO tasks (id, user_id, title) SELECT gen_random_uuid(), id, 'write the report' "
            "FROM users"
        )


def _session(url: str, application: str, autocommit: bool = False) -> psycopg.Connection:
    return psycopg.connect(
        url,
        application_name=application,
        autocommit=autocommit,
        options=f"-c statement_timeout={SAFETY_TIMEOUT} -c idle_in_transaction_session_timeout="
        f"{SAFETY_TIMEOUT}",
    )


# How many sessions of one application wait for a lock in this database (not in another run's, on one server).
WAITING = (
    "SELECT count(*) {} FROM pg_locks l JOIN pg_stat_activity a USING (pid) "
    "WHERE NOT l.granted AND a.datname = current_database() AND a.application_name = %s"
)


def wait_until(url: str, query: str, params=(), seconds: float = 20) -> None:
    """Poll (read-only) until ``query`` returns true; the deliberate waiting of this scenario is all here."""
    deadline = time.monotonic() + seconds
    with diagnosis.bounded_connect(url) as conn:
        while not conn.execute(query, params).fetchone()[0]:
            conn.rollback()
            if time.monotonic() > deadline:
                raise TimeoutError(f"the scenario did not reach its state in {seconds} s: {query}")
            time.sleep(0.02)


@dataclass
class Stall:
    """A blocker, two `alembic upgrade head` processes (two containers starting) and app sessions, all waiting."""

    url: str
    project: Path
    blocker: psycopg.Connection | None = None
    migrations: list[subprocess.Popen] = field(default_factory=list)
    app_threads: list[threading.Thread] = field(default_factory=list)
    app_waits: list[float] = field(default_factory=list)

    def start(self) -> Stall:
        atexit.register(self.close)
        self.blocker = _session(self.url, BLOCKER_APP)
        self.blocker.execute(
            "SELECT count(*) FROM tasks"
        )  # the report's transaction stays open: ACCESS SHARE
        # One wait of an hour: in effect no lock_timeout, as in most projects' env.py
        env = {
            **os.environ,
            "DATABASE_URL": self.url,
            "PGAPPNAME": MIGRATION_APP,
            "MIGRATION_LOCK_TIMEOUT": "1h",
            "MIGRATION_LOCK_TIMEOUT_MAX": "1h",
            "MIGRATION_LOCK_ATTEMPTS": "1",
        }
        for _container in range(2):  # two containers start at once; the advisory lock lets one migrate
            self.migrations.append(
                subprocess.Popen(
                    [sys.executable, "-m", "alembic", "upgrade", "head"],
                    cwd=self.project,
                    env=env,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT,
                    text=True,
                )
            )
        wait_until(self.url, WAITING.format("= 1"), [MIGRATION_APP])  # one migrates, its DDL waits
        wait_until(
            self.url,
            "SELECT count(*) = 2 FROM pg_stat_activity WHERE datname = current_database() "
            "AND application_name = %s",
            [MIGRATION_APP],
        )  # the other polls the migration lock
        for _number in range(APP_SESSIONS):
            thread = threading.Thread(target=self._app_query, daemon=True)
            thread.start()
            self.app_threads.append(thread)
        wait_until(self.url, WAITING.format(f"= {APP_SESSIONS}"), [APP])
        return self

    def _app_query(self) -> None:
        started = time.monotonic()
        try:
            with _session(self.url, APP, autocommit=True) as conn:
                conn.execute("SELECT count(*) FROM tasks")
        except psycopg.errors.AdminShutdown:  # close() ended it while it still waited
            return
        self.app_waits.append(time.monotonic() - started)

    def kill_migration_clients(self) -> None:
        """SIGKILL the `alembic` processes, as a pod killed by a failing probe: their backends keep going."""
        for process in self.migrations:
            process.kill()
            process.wait()
        print(_("killed {n} `alembic upgrade head` processes (SIGKILL)").format(n=len(self.migrations)))

    def app_queries_done(self, seconds: float = 10) -> None:
        for thread in self.app_threads:
            thread.join(seconds)
        print(
            _("{done} of {n} app queries went through; the longest waited {wait}").format(
                done=len(self.app_waits),
                n=APP_SESSIONS,
                wait=diagnosis.age_text(int(max(self.app_waits, default=0))),
            )
        )

    def close(self) -> None:
        """Stop everything this scenario started; the server ends the backends of killed clients too."""
        for process in self.migrations:
            if process.poll() is None:
                process.kill()
            process.wait()
            if process.stdout:
                process.stdout.close()
        with psycopg.connect(self.url, autocommit=True) as admin:
            # In the select list, not the WHERE clause: the planner may call a WHERE function on any row first.
            ended = [
                row[0]
                for row in admin.execute(
                    "SELECT pid, pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() "
                    "AND application_name = ANY(%s) AND pid <> pg_backend_pid()",
                    [[BLOCKER_APP, MIGRATION_APP, APP]],
                )
            ]
        diagnosis.wait_until_gone(self.url, ended)
        if self.blocker is not None:
            self.blocker.close()
        for thread in self.app_threads:
            thread.join(10)
        atexit.unregister(self.close)


def stall_behind_blocker(url: str, project: Path) -> Stall:
    """The incident: a report idle in its transaction, a migration queued behind it, the app queued behind that."""
    stall = Stall(url, project).start()
    print(
        _(
            "started: 1 report session (idle in transaction), 2 `alembic upgrade head` (MIGRATION_LOCK_TIMEOUT=1h: "
            "in effect none), {n} app sessions; all of them are waiting now"
        ).format(n=APP_SESSIONS)
    )
    return stall


@dataclass
class Report:
    """A report transaction still open when the deploy starts again; ``finish()`` ends it (between two attempts)."""

    url: str
    conn: psycopg.Connection | None = None

    def __enter__(self) -> Report:
        self.conn = _session(self.url, BLOCKER_APP)
        self.conn.execute("SELECT count(*) FROM tasks")  # ACCESS SHARE on tasks until it commits
        return self

    def finish(self) -> None:
        self.conn.commit()
        print(_("the report transaction has ended"))

    def __exit__(self, *exc) -> None:
        self.conn.close()


def report_during_deploy(url: str) -> Report:
    return Report(url)
