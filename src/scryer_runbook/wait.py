"""`scryer-runbook wait`: wait until PostgreSQL accepts the app's role and database, or say in one line why not.

pg_isready (step 1 of docker/wait-for-postgres.sh) ignores the user and the database, so this step really logs in.
It retries while the server is still coming up and gives up at once on what waiting cannot fix (a wrong password,
a missing database or role). The password is never printed.
"""

from __future__ import annotations

import os
import sys
import time

import psycopg
from sqlalchemy.engine import URL

from scryer_runbook import problems, urls
from scryer_runbook.i18n import _

# Problems a server that is still starting (or restarting, as the official image does after its init scripts) shows.
TRANSIENT = {"refused", "timeout", "starting", "shutting-down", "unresolved", "unreachable"}


def add_arguments(parser, command: str) -> None:
    # The defaults come from the environment as text: argparse converts them with `type` and names a bad value.
    parser.add_argument("--host", help=_("connect to this host instead of the configured one"))
    parser.add_argument("--port", type=int, help=_("connect to this port instead of the configured one"))
    parser.add_argument(
        "--timeout",
        type=float,
        default=os.environ.get("WAIT_TIMEOUT", "60"),
        help=_("give up after this many seconds (env WAIT_TIMEOUT, default 60; 0 = one attempt)"),
    )
    parser.add_argument(
        "--interval",
        type=float,
        default=os.environ.get("WAIT_INTERVAL", "2"),
        help=_("seconds between attempts (env WAIT_INTERVAL, default 2)"),
    )


def app_url() -> URL:
    """The app's connection: POSTGRES_HOST/PORT/USER/PASSWORD/DB when POSTGRES_HOST is set (the scryer-dev
    container, where DATABASE_URL is the migration owner's), else DATABASE_URL."""
    env = os.environ
    if not env.get("POSTGRES_HOST"):
        return urls.parse(urls.database_url())
    port = env.get("POSTGRES_PORT") or "5432"
    if not port.isdigit():
        raise urls.BadURL(_("POSTGRES_PORT must be a port number, not {port!r}").format(port=port))
    return urls.parse(
        URL.create(
            "postgresql",
            username=env.get("POSTGRES_USER"),
            password=env.get("POSTGRES_PASSWORD"),
            host=env["POSTGRES_HOST"],
            port=int(port),
            database=env.get("POSTGRES_DB"),
        )
    )


def run(args) -> int:
    url = app_url()
    url = url.set(host=args.host or url.host, port=args.port or url.port)
    deadline = time.monotonic() + args.timeout
    waiting_for = None
    while True:
        # libpq counts connect_timeout in whole seconds and treats anything below 2 as 2.
        timeout = max(2, round(deadline - time.monotonic()))
        try:
            psycopg.connect(urls.libpq(url), connect_timeout=timeout).close()
        except psycopg.OperationalError as error:
            problem = problems.explain_connect_error(error, url)
        else:
            print(
                _("PostgreSQL is ready: {url} accepts connections").format(
                    url=urls.masked(url.set(drivername="postgresql"))
                )
            )
            return 0
        if problem.kind not in TRANSIENT or time.monotonic() + args.interval > deadline:
            print(_("ERROR: PostgreSQL is not ready"), problem.line(), sep="\n", file=sys.stderr)
            return 1
        if problem.line() != waiting_for:  # say why it waits, once per reason, not once per attempt
            waiting_for = problem.line()
            print(_("waiting: {reason}").format(reason=waiting_for), file=sys.stderr, flush=True)
        time.sleep(args.interval)
