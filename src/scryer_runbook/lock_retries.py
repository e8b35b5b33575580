"""`alembic upgrade` with a short lock_timeout and retries: the app waits one lock_timeout per attempt at most.

The idea of GitLab's ``with_lock_retries``: DDL that queues for ACCESS EXCLUSIVE makes every later query on
the table queue behind it, so a migration must give up quickly and try again later rather than wait. Each attempt
is a real `alembic upgrade` run; with ``transaction_per_migration`` a revision that timed out was rolled back
whole, so the next attempt starts it again from the last committed revision.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable

from scryer_runbook.diagnosis.revisions import terse
from scryer_runbook.i18n import _
from scryer_runbook.project import AlembicProject, Result

LOCK_TIMEOUTS = ("2s", "2s", "5s", "5s", "10s")  # one attempt per entry: short first, a little longer later
PAUSE_SECONDS = 10.0  # between attempts: long enough for a report or a batch job to finish
LOCK_TIMED_OUT = "psycopg.errors.LockNotAvailable"  # SQLSTATE 55P03, whatever the server's language


def attempt_env(lock_timeout: str) -> dict[str, str]:
    """Scryer's env.py reads MIGRATION_LOCK_TIMEOUT (one wait per attempt here: this loop is the retry); any
    libpq-based project takes PGOPTIONS' lock_timeout. PGAPPNAME names the session in pg_stat_activity (unless
    the deploy names it already)."""
    return {
        "MIGRATION_LOCK_TIMEOUT": lock_timeout,
        "MIGRATION_LOCK_TIMEOUT_MAX": lock_timeout,
        "MIGRATION_LOCK_ATTEMPTS": "1",
        "PGOPTIONS": f"-c lock_timeout={lock_timeout}",
        "PGAPPNAME": os.environ.get("PGAPPNAME", "alembic"),
    }


def shell_loop(
    project: AlembicProject, target: str = "head", lock_timeouts=LOCK_TIMEOUTS, pause: float = PAUSE_SECONDS
) -> list[str]:
    """The same loop for a deploy script (bash), with the project's own CLI."""
    return [
        f"for timeout in {' '.join(lock_timeouts)}; do",
        f'  MIGRATION_LOCK_TIMEOUT=$timeout PGOPTIONS="-c lock_timeout=$timeout" '
        f"{project.shown('upgrade', target)} && break",
        f"  sleep {pause:g}",
        "done",
    ]


def upgrade_with_lock_retries(
    url: str,
    project: AlembicProject,
    target: str = "head",
    lock_timeouts=LOCK_TIMEOUTS,
    pause: float = PAUSE_SECONDS,
    between_attempts: Callable[[], None] | None = None,
) -> Result:
    """Run `alembic upgrade` until it succeeds, fails for another reason, or the attempts run out.

    ``between_attempts`` runs after each lock timeout, before the pause (to log, page someone, end a
    blocker)."""
    result = None
    for number, lock_timeout in enumerate(lock_timeouts, 1):
        print(
            _("attempt {n} of {total}, lock_timeout={timeout}").format(
                n=number, total=len(lock_timeouts), timeout=lock_timeout
            )
        )
        result = terse(project.run("upgrade", target, url=url, env=attempt_env(lock_timeout)))
        result.args = [f"MIGRATION_LOCK_TIMEOUT={lock_timeout}", *result.args]
        result.show()
        if result.returncode == 0 or LOCK_TIMED_OUT not in result.output:
            return result
        if number < len(lock_timeouts):
            print(
                _(
                    "gave up waiting for a lock after {timeout}: the app waited no longer than that; "
                    "retrying in {pause:g} s"
                ).format(timeout=lock_timeout, pause=pause)
            )
            if between_attempts:
                between_attempts()
            time.sleep(pause)
    return result
