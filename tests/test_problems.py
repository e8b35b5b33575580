"""problems.explain_connect_error names each kind of failed connection, each met for real (no made-up messages)."""

import json
import os
import shutil
import socket
import subprocess
import sys
import textwrap

import psycopg
import pytest
from psycopg import sql
from sqlalchemy import create_engine, pool, text
from sqlalchemy.exc import OperationalError as SAOperationalError

from scryer_runbook import problems, sandbox, scenarios, server, urls


def failure(url: str, **kwargs) -> tuple[psycopg.OperationalError, object]:
    """Really try to connect; return libpq's error and the parsed URL the explanation is about."""
    with pytest.raises(psycopg.OperationalError) as caught:
        psycopg.connect(urls.libpq(url), connect_timeout=kwargs.pop("connect_timeout", 5), **kwargs).close()
    assert caught.value.sqlstate is None  # no session yet: the text is all there is to tell them apart
    return caught.value, urls.parse(url)


def explained(url: str, **kwargs) -> tuple[problems.Problem, str]:
    error, parsed = failure(url, **kwargs)
    return problems.explain_connect_error(error, parsed), str(error)


def test_refused():
    problem, message = explained(f"postgresql://scryer@127.0.0.1:{scenarios.unused_port()}/scryer")
    assert "Connection refused" in message and "accepting TCP/IP connections?" in message
    assert problem.kind == "refused" and problem.runbook == "not-ready"
    assert problem.summary.startswith("connection refused by 127.0.0.1:")


def test_unresolved():
    problem, message = explained("postgresql://scryer@nosuchhost.invalid:5432/scryer")
    assert message.startswith("failed to resolve host 'nosuchhost.invalid'")
    assert problem.kind == "unresolved" and "'nosuchhost.invalid'" in problem.summary


def test_timeout():
    """Something accepts the TCP connection but never answers (a firewall box, a wrong service)."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        port = silent.getsockname()[1]
        problem, message = explained(f"postgresql://scryer@127.0.0.1:{port}/scryer", connect_timeout=2)
    assert "timeout expired" in message
    assert problem.kind == "timeout" and f"127.0.0.1:{port}" in problem.summary


def test_unreachable():
    """No route to the host: a connection attempt from a network namespace with no routes at all."""
    probe = textwrap.dedent("""
        import json, psycopg
        from scryer_runbook import problems, urls
        url = "postgresql://scryer@192.0.2.1:5432/scryer"
        try:
            psycopg.connect(urls.libpq(url), connect_timeout=3)
        except psycopg.OperationalError as error:
            print(json.dumps([str(error), problems.explain_connect_error(error, urls.parse(url)).kind]))
    """)
    isolate = ["unshare", "--net"] if os.geteuid() == 0 else ["unshare", "--user", "--map-root-user", "--net"]
    assert shutil.which("unshare"), "util-linux's unshare is needed to cut this test off the network"
    done = subprocess.run([*isolate, sys.executable, "-c", probe], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    message, kind = json.loads(done.stdout)
    assert "Network is unreachable" in message and kind == "unreachable"


@pytest.mark.slow  # a server in each state
@pytest.mark.parametrize("kind", sorted(scenarios.NOT_ACCEPTING_STATES))
def test_server_up_but_not_accepting(kind):
    with scenarios.server_in_state(kind) as url:
        problem, message = explained(url)
    assert f"FATAL:  {scenarios.NOT_ACCEPTING_STATES[kind][1]}" in message
    assert problem.kind == kind and problem.runbook == "not-ready"


def test_password(scratch):
    with scenarios.wrong_password_url(scratch, scratch.database("pw")) as url:
        problem, message = explained(url)
    role = urls.parse(url).username
    assert f'FATAL:  password authentication failed for user "{role}"' in message
    assert problem.kind == "password" and role in problem.summary
    assert "-wrong" not in problem.line()  # the password is never part of the explanation


def test_no_password(scratch):
    role, _ = scratch.role("nopw")
    problem, message = explained(
        urls.libpq(urls.parse(scratch.database("nopw"))._replace(username=role, password=None))
    )
    assert "no password supplied" in message
    assert problem.kind == "no-password"


def test_role_missing():
    """Over the Unix socket (trust): the server says the role does not exist. Over TCP with a password it would
    only say "password authentication failed", not to give away which roles exist."""
    srv = server.start_server()
    try:
        sockets = str(srv.root / "sockets")
        url = urls.parse(f"postgresql://nosuchrole@/postgres?host={sockets}&port={srv.port}")
        with pytest.raises(psycopg.OperationalError) as caught:
            psycopg.connect(host=sockets, port=srv.port, user="nosuchrole", dbname="postgres").close()
    finally:
        srv.stop()
    assert 'FATAL:  role "nosuchrole" does not exist' in str(caught.value)
    problem = problems.explain_connect_error(caught.value, url)
    assert problem.kind == "role-missing" and "'nosuchrole'" in problem.summary


def test_database_missing(scratch):
    url = scenarios.missing_database_url(scratch.admin_url)
    problem, message = explained(url)
    name = urls.parse(url).database
    assert f'FATAL:  database "{name}" does not exist' in message
    assert problem.kind == "database-missing" and name in problem.summary


def test_no_connect_privilege_points_at_the_permissions_runbook(scratch):
    url = scratch.database("noconnect")
    role, password = scratch.role("app")
    with sandbox.admin_connect(scratch.admin_url) as conn:
        conn.execute(
            sql.SQL("REVOKE CONNECT ON DATABASE {} FROM PUBLIC").format(
                sql.Identifier(urls.parse(url).database)
            )
        )
    problem, message = explained(sandbox.as_role(url, role, password))
    assert "FATAL:  permission denied for database" in message and "CONNECT privilege" in message
    assert problem.kind == "no-connect" and problem.runbook == "permissions"


def test_anything_else_keeps_libpqs_first_line(scratch):
    """A failure without a pattern (here: SSL required, the sandbox server has none) is still one clear line."""
    problem, message = explained(scratch.admin_url, sslmode="require")
    assert "server does not support SSL, but SSL was required" in message
    assert problem.kind == "connect-failed" and "server does not support SSL" in problem.summary


def test_explain_unwraps_sqlalchemy_and_ignores_errors_after_login(scratch):
    url = scenarios.missing_database_url(scratch.admin_url)
    engine = create_engine(urls.sqlalchemy(url), poolclass=pool.NullPool)
    with pytest.raises(SAOperationalError) as caught:
        engine.connect()
    assert problems.explain(caught.value, urls.parse(url)).kind == "database-missing"
    engine = create_engine(urls.sqlalchemy(scratch.admin_url), poolclass=pool.NullPool)
    with pytest.raises(Exception) as caught, engine.connect() as conn:
        conn.execute(text("SELECT * FROM no_such_table"))
    assert (
        problems.explain(caught.value, urls.parse(scratch.admin_url)) is None
    )  # a SQL error, not a connection one


def test_explain_names_a_bad_url_and_passes_an_explained_one_through():
    with pytest.raises(urls.BadURL) as caught:
        urls.parse("mysql://scryer:pw@db/scryer")
    assert problems.explain(caught.value).kind == "bad-url"
    known = problems.Problem("refused", "connection refused by db:5432", "not-ready")
    assert problems.explain(problems.ProblemError(known)) is known


def test_summaries_never_show_the_password():
    url = f"postgresql://scryer:s3cret-pw@127.0.0.1:{scenarios.unused_port()}/scryer"
    problem, _ = explained(url)
    assert "s3cret-pw" not in problem.line()


@pytest.mark.parametrize(
    "text, kind, runbook",
    [
        (  # a whole traceback's last line: the SQLSTATE behind psycopg's class decides (42P07)
            "Traceback (most recent call last):\n  ...\nsqlalchemy.exc.ProgrammingError: "
            '(psycopg.errors.DuplicateTable) relation "orders" already exists\n[SQL: CREATE TABLE orders]',
            "already-exists",
            "already-exists",
        ),
        (  # no driver class: the catalogue's exact text
            "FAILED: Can't locate revision identified by '007_add_orders'",
            "database-ahead",
            "database-ahead",
        ),
        (  # a connection failure, in the server's words
            'connection to server at "db" (10.0.0.5), port 5432 failed: FATAL:  password authentication failed '
            'for user "app"',
            "password",
            "not-ready",
        ),
    ],
    ids=["traceback", "catalogue-text", "connection"],
)
def test_explain_text_names_the_runbook(text, kind, runbook):
    problem = problems.explain_text(text)
    assert (problem.kind, problem.runbook) == (kind, runbook)
    assert "\n" not in problem.line()


def test_explain_text_masks_passwords_and_knows_when_it_has_no_answer():
    problem = problems.explain_text(
        "FAILED: Can't locate revision identified by 'x' postgresql://u:s3cr3t@h/db"
    )
    assert "s3cr3t" not in problem.line()
    assert problems.explain_text("KeyError: 'something else entirely'") is None
