"""The fork server's child is the process `python -m alembic` would be: a probe env.py reports what it sees
(cwd, sys.path, argv, environment, open files, __main__, streams, process group, what is already imported) and
how it ends; the fast path and a plain subprocess must report the same, except that the fast child's parent is
the server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

from scryer_runbook import fastcli, project

PROBE_ENV = """
import json, os, sys
if os.environ.get("PROBE_ENDING") == "facts":
    main = sys.modules["__main__"]
    print(json.dumps({
        "cwd": os.getcwd(), "path": sys.path, "argv": sys.argv, "orig_argv": sys.orig_argv,
        "environ": dict(os.environ), "fds": sorted(os.listdir("/proc/self/fd")),
        "stdin": [os.fstat(0).st_dev, os.fstat(0).st_ino], "umask": os.umask(0o022),
        "main": sorted(vars(main)), "main_name": main.__name__, "main_file": main.__file__,
        "streams": [(s.encoding, s.errors, s.line_buffering, s.write_through)
                    for s in (sys.stdout, sys.stderr)],
        "flags": str(sys.flags), "process_group": os.getpgrp(), "session": os.getsid(0),
        "project_imported": sorted(name for name, module in sys.modules.items()
            if (getattr(module, "__file__", None) or "").startswith(
                tuple(os.environ["PROJECT_ROOTS"].split(os.pathsep)))),
        "helper": __import__("probe_helper").WHERE,
        "caller_is_parent": os.getppid() == int(os.environ["CALLER_PID"]),
    }, sort_keys=True))
for i in range(40):  # unflushed prints to both streams: the interleaving a terminal would show
    print("out", i)
    print("err", i, file=sys.stderr)
ending = os.environ.get("PROBE_ENDING")
if ending == "exit-3":
    sys.exit(3)
if ending == "exit-message":
    sys.exit("a message instead of a code")
if ending == "raise":
    raise ValueError("from env.py")
if ending == "sleep":
    import time
    time.sleep(60)
"""


@pytest.fixture(scope="module")
def probe(tmp_path_factory):
    """A minimal Alembic project whose env.py is the probe, plus a module next to alembic.ini it imports."""
    root = tmp_path_factory.mktemp("probe")
    (root / "alembic.ini").write_text("[alembic]\nscript_location = %(here)s/migrations\n")
    (root / "migrations" / "versions").mkdir(parents=True)
    (root / "migrations" / "env.py").write_text(PROBE_ENV)
    (root / "probe_helper.py").write_text("WHERE = __file__\n")
    return root


def project_roots(probe) -> str:
    """Where a project's modules live: the probe project, and this repository's packages (the venv aside)."""
    return os.pathsep.join([str(probe), str(project.REPO_ROOT / "src"), str(project.REPO_ROOT / "alembic")])


def both(probe, ending: str, timeout: float = 60) -> list[subprocess.CompletedProcess]:
    env = {
        **os.environ,
        "PYTHONUNBUFFERED": "1",
        "PROBE_ENDING": ending,
        "CALLER_PID": str(os.getpid()),
        "PROJECT_ROOTS": project_roots(probe),
        "A_VALUE_ONLY_THIS_COMMAND_HAS": ending,
    }
    args = [sys.executable, "-m", "alembic", "current"]
    return [
        runner(
            args,
            cwd=probe,
            env=env,
            timeout=timeout,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for runner in (subprocess.run, fastcli.run)
    ]


def test_the_child_sees_what_the_cli_process_sees(probe):
    assert fastcli.supported()
    plain, fast = both(probe, "facts")
    assert (plain.returncode, fast.returncode) == (0, 0), plain.stdout + fast.stdout
    seen = [json.loads(done.stdout.splitlines()[0]) for done in (plain, fast)]
    assert seen[0].pop("caller_is_parent"), "the plain run is not the caller's child"
    assert not seen[1].pop("caller_is_parent"), "not served by the fork server"
    assert seen[0] == seen[1]
    assert seen[0]["project_imported"] == [] and seen[0]["helper"] == str(probe / "probe_helper.py")
    assert seen[0]["environ"]["A_VALUE_ONLY_THIS_COMMAND_HAS"] == "facts" and seen[0]["path"][0] == str(probe)
    assert plain.stdout.split("\n", 1)[1] == fast.stdout.split("\n", 1)[1]  # the interleaved prints too


@pytest.mark.parametrize("ending", ["exit-3", "exit-message", "raise"])
def test_exit_codes_messages_and_tracebacks_are_the_cli_s(probe, ending):
    plain, fast = both(probe, ending)
    assert plain.returncode == {"exit-3": 3, "exit-message": 1, "raise": 1}[ending]
    assert (fast.returncode, fast.stdout) == (plain.returncode, plain.stdout)
    if ending == "raise":
        first_frame = fast.stdout.split("Traceback (most recent call last):\n")[1][:40]
        assert 'File "<frozen runpy>", line' in first_frame


def test_a_command_past_its_timeout_is_killed_as_subprocess_run_kills_it(probe):
    started = time.monotonic()
    with pytest.raises(subprocess.TimeoutExpired):
        fastcli.run(
            [sys.executable, "-m", "alembic", "current"],
            cwd=probe,
            timeout=3,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1", "PROBE_ENDING": "sleep"},
        )
    assert time.monotonic() - started < 30


def test_a_different_start_up_environment_gets_a_server_of_its_own(probe):
    """PYTHON* and locale variables shape the interpreter when it starts: a server started with others would
    lie."""
    env = {
        **os.environ,
        "PYTHONUNBUFFERED": "1",
        "PROBE_ENDING": "facts",
        "CALLER_PID": str(os.getpid()),
        "PROJECT_ROOTS": project_roots(probe),
        "PYTHONIOENCODING": "latin-1",
    }
    kwargs = dict(cwd=probe, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    plain = subprocess.run([sys.executable, "-m", "alembic", "current"], **kwargs)
    fast = fastcli.run([sys.executable, "-m", "alembic", "current"], **kwargs)
    facts = [json.loads(done.stdout.splitlines()[0]) for done in (plain, fast)]
    assert facts[0]["streams"] == facts[1]["streams"] and facts[1]["streams"][0][0] == "iso8859-1"


def test_switched_off_or_not_alembic_it_is_plain_subprocess_run(probe, monkeypatch):
    monkeypatch.setenv(fastcli.SWITCH, "0")
    assert not fastcli.supported()
    [plain, fast] = both(probe, "facts")
    assert json.loads(fast.stdout.splitlines()[0])["caller_is_parent"]
    done = fastcli.run(
        [sys.executable, "-c", "import os; print(os.getppid())"],
        cwd=probe,
        env=dict(os.environ),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert done.stdout.strip() == str(os.getpid())


def test_project_alembic_goes_through_the_fork_server():
    assert project.alembic("heads").output.strip() == "004_index_tasks_created_at (head)"
    assert any(server is not None and server.process.poll() is None for server in fastcli._servers.values())


def test_stdout_and_stderr_apart_are_the_cli_s(probe):
    """project.run(stdout_only=True) pipes the two streams apart: each must hold what the CLI's holds."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "PROBE_ENDING": "exit-3"}
    kwargs = dict(cwd=probe, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    plain = subprocess.run([sys.executable, "-m", "alembic", "current"], **kwargs)
    fast = fastcli.run([sys.executable, "-m", "alembic", "current"], **kwargs)
    assert (fast.returncode, fast.stdout, fast.stderr) == (plain.returncode, plain.stdout, plain.stderr)
    assert "out 39" in fast.stdout and "err 39" in fast.stderr and "err" not in fast.stdout
