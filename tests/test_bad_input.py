"""Bad input to `alembic upgrade head` and `scryer-runbook wait`: one clear line that names the problem, a non-zero
exit, no traceback, no password, and the target database left as it was."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from scryer_runbook import problems, project, urls

PASSWORD = "s3cr3t-pw"
NOT_READY = problems.runbook_url("not-ready")


@pytest.fixture
def target(scratch, empty_db):
    """An empty database and its owner, who logs in with PASSWORD: the URL every case breaks one thing of."""
    role, _ = scratch.role("owner")
    database = urls.parse(empty_db).database
    with psycopg.connect(empty_db, autocommit=True) as conn:
        conn.execute(sql.SQL("ALTER ROLE {} PASSWORD {}").format(sql.Identifier(role), sql.Literal(PASSWORD)))
        conn.execute(
            sql.SQL("ALTER DATABASE {} OWNER TO {}").format(sql.Identifier(database), sql.Identifier(role))
        )
    return urls.parse(empty_db).set(drivername="postgresql", username=role, password=PASSWORD)


# case -> (what to change in the target URL, the line expected from `scryer-runbook wait`, from the project's own
# env.py), as regexes. The tool names the runbook; env.py is the Scryer project's and knows nothing of the tool, so
# it says in one line where the connection went and libpq's reason.
CASES = {
    "malformed-url": (
        {"port": "notaport"},
        r"malformed DATABASE_URL 'postgresql://\w+:\*\*\*@[\w.]+:notaport/\w+'",
        r"DATABASE_URL is not a valid database URL: invalid literal for int\(\) with base 10: 'notaport'",
    ),
    "unknown-driver": (
        {"drivername": "mysql"},
        r"unsupported driver 'mysql' in DATABASE_URL",
        r"DATABASE_URL must be a PostgreSQL URL \(postgresql://\.\.\.\), not mysql://",
    ),
    "closed-port": (
        {"host": "127.0.0.1", "port": 1},
        r"connection refused by 127\.0\.0\.1:1: no server is listening",
        r"cannot connect to postgresql://\w+:\*\*\*@127\.0\.0\.1:1/\w+: .*Connection refused",
    ),
    "unresolvable-host": (
        {"host": "nosuchhost.invalid"},
        r"host name 'nosuchhost\.invalid' could not be resolved",
        r"cannot connect to .*@nosuchhost\.invalid:\d+/\w+: failed to resolve host 'nosuchhost\.invalid'",
    ),
    "wrong-password": (
        {"password": "wrong-" + PASSWORD},
        r"password authentication failed for user '\w+'",
        r'cannot connect to .*: FATAL:  password authentication failed for user "\w+"',
    ),
    "missing-database": (
        {"database": "nosuchdb"},
        r"database 'nosuchdb' does not exist on [\w.]+:\d+",
        r'cannot connect to .*/nosuchdb: .*FATAL:  database "nosuchdb" does not exist',
    ),
}


def broken_url(target, change: dict) -> str:
    text = target.set(**{key: value for key, value in change.items() if key != "port"})
    text = text.render_as_string(hide_password=False)
    if "port" in change:  # as text: URL.set() would refuse a port that is not a number
        text = re.sub(r":\d+/", f":{change['port']}/", text)
    return text


def has_version_table(url) -> bool:
    with psycopg.connect(urls.libpq(url)) as conn:
        return conn.execute("SELECT to_regclass('public.alembic_version') IS NOT NULL").fetchone()[0]


def assert_one_clear_line(result: project.Result, pattern: str) -> None:
    assert result.returncode != 0, result.output
    assert "Traceback" not in result.output, result.output
    assert PASSWORD not in result.output
    lines = [line for line in result.output.splitlines() if re.search(pattern, line)]
    assert lines, f"no line matches {pattern!r} in:\n{result.output}"


def run(args: list, url: str, cwd: Path = project.REPO_ROOT, **env: str) -> project.Result:
    """Like project.run (what project.alembic uses), but unmasked: the test must see a password if one leaks."""
    done = subprocess.run(
        [str(arg) for arg in args],
        cwd=cwd,
        env={**os.environ, "DATABASE_URL": url, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=60,
    )
    return project.Result(args, done.returncode, done.stdout)


# command -> (argv, how its failure line starts, which pattern of a case it prints, whether it names the runbook)
COMMANDS = {
    "alembic": ([sys.executable, "-m", "alembic", "upgrade", "head"], "FAILED: ", 2, False),
    "wait": ([Path(sys.executable).parent / "scryer-runbook", "wait"], "(error: )?", 1, True),
}


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("command", COMMANDS)
def test_bad_connection_settings(target, command, case):
    argv, prefix, which, names_runbook = COMMANDS[command]
    change, problem = CASES[case][0], CASES[case][which]
    result = run(argv, broken_url(target, change), WAIT_TIMEOUT="0")  # the wait: one attempt, no retries
    runbook = rf" \(runbook: {re.escape(NOT_READY)}\)" if names_runbook else ""
    assert_one_clear_line(result, rf"^{prefix}{problem}.*{runbook}$")
    assert not has_version_table(target)


def test_explain_names_the_runbook_for_what_alembic_printed(target):
    """What the entrypoint does with a failed `alembic upgrade head`: the tool reads the project's output."""
    url = broken_url(target, {"password": "wrong-" + PASSWORD})
    failed = run(COMMANDS["alembic"][0], url)
    explained = subprocess.run(
        [Path(sys.executable).parent / "scryer-runbook", "explain", "--lang", "en"],
        input=failed.output,
        env={**os.environ, "DATABASE_URL": url},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert explained.returncode == 0, explained.stderr
    assert explained.stdout == (
        f"password authentication failed for user '{target.username}' (runbook: "
        f"{problems.runbook_url('not-ready', 'en')})\n"
    )
    assert PASSWORD not in explained.stdout


def test_missing_alembic_ini():
    result = run([sys.executable, "-m", "alembic", "-c", "/nonexistent/alembic.ini", "current"], "unused")
    # Alembic >= 1.16 no longer names the missing file (it used to say "No config file ... found"); the line is
    # Alembic's own, before env.py runs, so there is nothing in this project that could improve it.
    assert_one_clear_line(result, r"^FAILED: No 'script_location' key found in configuration\.$")
    assert len(result.output.strip().splitlines()) == 1


def test_syntax_error_in_a_revision(target, tmp_path):
    copy = project.copy_project(tmp_path)
    revision = copy / "alembic" / "versions" / "003_add_tasks_table.py"
    revision.write_text(revision.read_text().replace("def upgrade() -> None:", "def upgrade( -> None:"))
    result = run(
        [sys.executable, "-m", "alembic", "upgrade", "head"],
        target.render_as_string(hide_password=False),
        cwd=copy,
    )
    assert_one_clear_line(
        result, rf"^FAILED: syntax error in {re.escape(str(revision))}, line \d+: invalid syntax$"
    )
    assert not has_version_table(target)
