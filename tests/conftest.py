"""One real PostgreSQL server for the whole run, scratch databases per test, nothing left behind.

Without DATABASE_URL the controller process starts an embedded server and exports its URL, so xdist workers and
notebook kernels (which inherit the environment) all use it. The sandbox tag is exported the same way: whatever
this run creates carries it, and the end of the session checks that none of it is left.
"""

from __future__ import annotations

import os
import subprocess

import pytest

from scryer_runbook import diagnosis, project, sandbox, server


def pytest_configure(config):
    if hasattr(config, "workerinput"):  # an xdist worker: the controller has set everything up
        return
    sandbox.run_tag()
    config._files_before = files_changed()
    if not os.environ.get("DATABASE_URL"):
        server.prune_orphans()
        config._embedded_server = server.start_server()
        os.environ["DATABASE_URL"] = config._embedded_server.url
    # Incident-mode runbooks keep scratch work off DATABASE_URL unless told; in tests the target is a sandbox too.
    os.environ.setdefault("SCRYER_SANDBOX_URL", os.environ["DATABASE_URL"])


# Tests that look at the built site (or the browser's visit of it) wait for one build per session: they all
# run on one xdist worker (`--dist loadgroup`), so no other worker sits blocked on the build or the browser.
SITE_FIXTURES = {"site", "build", "seen"}
# What makes a test take seconds, seen in what it calls or needs: a runbook notebook run in incident mode, a fixture
# project's own CLI run by the doctor, a dump of every database, a stalled migration, a server of its own.
SLOW_CALLS = {"run_incident", "fixture_project", "dump_every_database"}
SLOW_FIXTURES = {"stall", "victim", "laptop"}


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook, which turns the xdist_group marks into node ids
def pytest_collection_modifyitems(config, items):
    """Mark what is slow without a decorator on each item: nbmake's notebook runs, tests of the built site, and
    tests that call or need what takes seconds (SLOW_CALLS, SLOW_FIXTURES).
    Drop nbmake's run of a notebook that a selected test already executes in sandbox mode (marker
    ``sandbox_run``): one run serves both, and papermill fails on a cell error just as nbmake does."""
    covered = {mark.args[0] for item in items for mark in item.iter_markers("sandbox_run")}
    kept, dropped = [], []
    for item in items:
        if item.path.suffix == ".ipynb":
            item.add_marker(pytest.mark.slow)
            if item.path.name in covered:
                dropped.append(item)
                continue
        fixtures = set(getattr(item, "fixturenames", ()))
        if SITE_FIXTURES & fixtures:
            item.add_marker(pytest.mark.slow)
            item.add_marker(pytest.mark.xdist_group("site"))
        if SLOW_FIXTURES & fixtures or calls_slow(getattr(item, "function", None)):
            item.add_marker(pytest.mark.slow)
        kept.append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


def calls_slow(function, depth: int = 2) -> bool:
    """Whether ``function`` calls one of SLOW_CALLS, itself or through a helper of its own module."""
    code = getattr(function, "__code__", None)
    if code is None:
        return False
    if SLOW_CALLS & set(code.co_names):
        return True
    helpers = (function.__globals__.get(name) for name in code.co_names)
    return depth > 0 and any(
        calls_slow(helper, depth - 1)
        for helper in helpers
        if getattr(helper, "__module__", None) == function.__module__
    )


def pytest_sessionfinish(session, exitstatus):
    config = session.config
    if hasattr(config, "workerinput"):
        return
    databases, roles = sandbox.sweep(os.environ["DATABASE_URL"])
    if databases or roles:
        session.config.pluginmanager.get_plugin("terminalreporter").write_line(
            f"LEFT BEHIND by this run (now dropped): databases {databases}, roles {roles}", red=True
        )
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
    left = files_changed() - config._files_before
    if left:
        session.config.pluginmanager.get_plugin("terminalreporter").write_line(
            f"LEFT BEHIND by this run in the repository: {sorted(left)}", red=True
        )
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def files_changed() -> set[str]:
    """The repository's new or changed files (git's view, .gitignore applied): a test that writes into the
    repository (a notebook's working folder, a fixture project) shows up here. Empty outside a git checkout."""
    done = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=all"],
        cwd=project.REPO_ROOT,
        capture_output=True,
        text=True,
    )
    return set(done.stdout.splitlines()) if done.returncode == 0 else set()


def pytest_unconfigure(config):
    embedded = getattr(config, "_embedded_server", None)
    if embedded:
        embedded.stop()


@pytest.fixture
def scratch():
    """A Sandbox whose databases and roles are dropped when the test ends."""
    with sandbox.Sandbox() as box:
        yield box


@pytest.fixture
def empty_db(scratch):
    """The URL of a new, empty database."""
    return scratch.database("test")


@pytest.fixture(scope="session")
def head_template():
    """A database migrated to head once per worker, with the real CLI; tests clone it instead of migrating again."""
    with sandbox.Sandbox() as box:
        project.alembic("upgrade", "head", url=box.database("head_template"), check=True)
        yield box.databases[0]


@pytest.fixture
def head_db(scratch, head_template):
    """The URL of a new database at head (CREATE DATABASE ... TEMPLATE: milliseconds, not an Alembic run)."""
    return scratch.database("head", template=head_template)


# --- helpers the runbook tests share ------------------------------------------------------------------------


def outputs(nb) -> str:
    """Everything an executed notebook's code cells printed, in order (streams arrive in arbitrary chunks)."""
    return "".join(
        output.get("text", "")
        for cell in nb.cells
        if cell.cell_type == "code"
        for output in cell.get("outputs", [])
    )


def schema_and_versions(url: str):
    """What a migration changes: the schema and the version rows."""
    with diagnosis.connect(url) as conn:
        return diagnosis.schema_snapshot(conn), diagnosis.version_rows(conn)
