"""No password in what the project publishes or writes: the built site, the server's log, committed files."""

import os
import re
import subprocess
import sys

import psycopg
import pytest
from site_support import session_build

from scryer_runbook import sandbox, server
from scryer_runbook.project import REPO_ROOT

# A password in a URL: anything but a masked ***, a variable or a documented placeholder.
PLACEHOLDERS = r"\*\*\*|<[^@>]*>|&lt;[^@]*?&gt;|password|PASSWORD|changeme|\$\{[^}]*\}"
URL_PASSWORD = re.compile(rf"postgres(?:ql)?(?:\+\w+)?://[^:/@\s\"'<>]+:(?!(?:{PLACEHOLDERS})@)[^@\s\"'<>]+@")


def test_the_pattern_finds_a_password_and_spares_placeholders():
    assert URL_PASSWORD.search("postgresql://scryer:hunter2@db/scryer")
    assert not URL_PASSWORD.search(
        "postgresql://scryer:***@db/scryer postgresql://u:<密码>@h/d "
        "postgresql+asyncpg://scryer:password@localhost:5432/scryer"
    )


@pytest.mark.slow
@pytest.mark.xdist_group("site")  # waits for the session's site build
def test_built_site_shows_no_password(tmp_path_factory, worker_id):
    build = session_build(tmp_path_factory, worker_id)
    assert build.returncode == 0, build.output[-2000:]
    leaks = [
        (path.name, match)
        for path in build.site.rglob("*")
        if path.suffix in {".html", ".json", ".ipynb", ".txt"}
        for match in URL_PASSWORD.findall(path.read_text(errors="ignore"))
    ]
    assert not leaks


def test_committed_files_show_no_password():
    """Pages, notebooks, config and code; the tests themselves hold made-up passwords to prove masking works."""
    tracked = subprocess.run(["git", "ls-files"], capture_output=True, text=True, check=True, cwd=REPO_ROOT)
    paths = [REPO_ROOT / name for name in tracked.stdout.split() if not name.startswith("tests/")]
    leaks = [
        (path.name, match)
        for path in paths
        if path.is_file()
        for match in URL_PASSWORD.findall(path.read_text(errors="ignore"))
    ]
    assert not leaks


def test_server_log_never_records_a_password():
    """Failed and successful logins and a password change: the embedded server's log keeps no password."""
    srv = server.start_server()
    try:
        with psycopg.connect(srv.url, autocommit=True) as conn:
            conn.execute("CREATE ROLE logs_probe LOGIN PASSWORD 'first-s3cret'")
            conn.execute("ALTER ROLE logs_probe PASSWORD 'second-s3cret'")
        with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
            psycopg.connect(sandbox.as_role(srv.url, "logs_probe", "first-s3cret")).close()
        psycopg.connect(sandbox.as_role(srv.url, "logs_probe", "second-s3cret")).close()
        log = (srv.root / "server.log").read_text()
    finally:
        srv.stop()
    assert 'password authentication failed for user "logs_probe"' in log  # it is the log we think it is
    assert "s3cret" not in log


@pytest.mark.slow  # a notebook run through the papermill CLI
def test_the_documented_incident_command_leaves_no_password_in_the_report(scratch, tmp_path):
    """`papermill ... -p target_url_env DATABASE_URL` (run-a-runbook page): the report holds the variable's name,
    never the URL's password, in its cells, its outputs or its metadata."""
    role, password = scratch.role("report")
    url = sandbox.as_role(scratch.database("report"), role, password)
    report = tmp_path / "report.ipynb"
    env = {**os.environ, "DATABASE_URL": url}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "papermill",
            str(REPO_ROOT / "notebooks" / "not-ready.en.ipynb"),
            str(report),
            "-p",
            "target_url_env",
            "DATABASE_URL",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    text = report.read_text()
    assert "nothing to fix" in text and password not in text and not URL_PASSWORD.search(text)


def test_a_target_url_with_a_password_is_refused_in_one_line():
    from scryer_runbook.problems import ProblemError
    from scryer_runbook.runbook import Runbook

    with pytest.raises(ProblemError) as refused:
        Runbook("not-ready", "postgresql://app:hunter2@db.internal/app")
    line = str(refused.value)
    assert "target_url_env" in line and "hunter2" not in line and "\n" not in line
