"""Speed figures for the README: run `make benchmark` (or `.venv/bin/python benchmarks/run.py`).

Prints one table; every figure is the median of several runs on this machine. Not a test: nothing here fails.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from scryer_runbook import fastcli, project, server
from scryer_runbook.notebooks import NOTEBOOKS, execute
from scryer_runbook.project import REPO_ROOT
from scryer_runbook.sandbox import Sandbox


def median_of(runs: int, action) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def embedded_cold() -> None:
    for template in server.RUNTIME_ROOT.glob("template-*"):
        shutil.rmtree(template)
    server.start_server().stop()


def embedded_warm() -> None:
    server.start_server().stop()


def reference_initdb_and_start() -> None:
    """What pytest-postgresql's process fixture does: initdb into a fresh folder, pg_ctl start, stop."""
    bindir, user = server.find_bindir(), server.server_account()
    with tempfile.TemporaryDirectory(dir=server.RUNTIME_ROOT) as root:
        os.chmod(root, 0o755)
        data = server.private_dir(Path(root) / "data", user)
        server.run_as_user(
            [str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "-N", "--auth=trust"], user
        )
        port = server.free_port()
        server.run_as_user(
            [
                str(bindir / "pg_ctl"),
                "-D",
                str(data),
                "-w",
                "-o",
                f"-h 127.0.0.1 -p {port} -k {data} -c fsync=off",
                "-l",
                str(data / "log"),
                "start",
            ],
            user,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        server.run_as_user([str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"], user)


def kernel_start() -> None:
    from jupyter_client.manager import start_new_kernel  # noqa: PLC0415

    manager, client = start_new_kernel(kernel_name="python3")
    client.stop_channels()
    manager.shutdown_kernel(now=True)


def notebook_times(path: Path, runs: int) -> tuple[float, float]:
    """(median seconds per run, median seconds spent in the cells tagged ``waits``): the cells that wait for
    servers on purpose (a late server, a wait that must give up, servers started in each state)."""
    totals, waits = [], []
    for _ in range(runs):
        started = time.perf_counter()
        nb = execute(path)
        totals.append(time.perf_counter() - started)
        waits.append(
            sum(
                cell.metadata.papermill.duration or 0
                for cell in nb.cells
                if "waits" in cell.metadata.get("tags", [])
            )
        )
    return statistics.median(totals), statistics.median(waits)


def alembic_both_ways(row, runs: int, url: str) -> None:
    """One `alembic` command as a plain `python -m alembic` process and through the fork server (fastcli)."""
    fastcli.prestart()
    for args, label in (
        (["--version"], "no work at all: all of it is overhead"),
        (["current"], "one connection, one query"),
        (["heads"], "reads the revision scripts"),
    ):
        times = {}
        for way, runner in (("plain", subprocess.run), ("fast", fastcli.run)):
            command = [sys.executable, "-m", "alembic", *args]
            times[way] = median_of(
                runs, lambda command=command, runner=runner: project.run(command, url=url, runner=runner)
            )
        row(
            f"`alembic {' '.join(args)}` ({label}): plain / fork server (goal: 0.1 s of overhead)",
            times["plain"],
            times["fast"],
        )


def timed_make(target: str) -> float:
    started = time.perf_counter()
    done = subprocess.run(["make", target], cwd=REPO_ROOT, check=False, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode:  # the time still counts; say what failed
        print(f"make {target} exited {done.returncode}:\n{done.stdout[-3000:]}", file=sys.stderr)
    return seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--runs", type=int, default=5, help="runs per figure for the fast figures (default 5)"
    )
    parser.add_argument("--notebook-runs", type=int, default=3, help="runs per notebook (default 3)")
    parser.add_argument(
        "--suite", action="store_true", help="also time `make test-fast` and `make test` end to end (minutes)"
    )
    args = parser.parse_args()
    rows: list[tuple[str, tuple[float, ...]]] = []

    def row(label: str, *seconds: float) -> None:
        rows.append((label, seconds))
        figures = " / ".join(f"{s:.3f}" for s in seconds)
        print(f"{label:<70} {figures} s", file=sys.stderr, flush=True)  # progress

    from scryer_runbook.lint import lint  # noqa: PLC0415

    projects = {
        "the project's chain": REPO_ROOT / "alembic.ini",
        "10 revisions, lint fixture": REPO_ROOT / "tests/fixtures/lint/rules/alembic.ini",
    }
    for label, ini in projects.items():
        row(f"lint: {label} (in-process, squawk included)", median_of(args.runs, lambda ini=ini: lint(ini)))
    command = [sys.executable, "-m", "scryer_runbook.cli", "lint"]
    row(
        "lint: `scryer-runbook lint`, the whole command (project's chain)",
        median_of(3, lambda: subprocess.run(command, cwd=REPO_ROOT, capture_output=True, check=False)),
    )

    cold = median_of(max(3, args.runs // 2), embedded_cold)
    row("embedded PostgreSQL: cold start + stop (initdb)", cold)
    warm = median_of(args.runs, embedded_warm)
    row("embedded PostgreSQL: warm start + stop (template copy)", warm)
    reference = median_of(max(3, args.runs // 2), reference_initdb_and_start)
    row("reference: initdb + pg_ctl start + stop", reference)
    ratio = reference / warm

    srv = server.start_server()
    os.environ["DATABASE_URL"] = srv.url
    try:
        box = Sandbox(srv.url)
        row(
            "scratch database create + drop",
            median_of(args.runs * 4, lambda: (box.database("bench"), box.close())),
        )
        try:
            from scryer_runbook import doctor  # noqa: PLC0415

            url = box.database("doctor")
            subprocess.run(
                [sys.executable, "-m", "alembic", "upgrade", "head"],
                cwd=REPO_ROOT,
                check=True,
                env={**os.environ, "DATABASE_URL": url},
                capture_output=True,
            )
            row(
                "doctor: full triage of a local database (in-process)",
                median_of(args.runs, lambda: doctor.triage(url, str(REPO_ROOT / "alembic.ini"))),
            )
            alembic_both_ways(row, args.runs, url)
            box.close()
        except ImportError:
            print("doctor: not available")
        kernel = median_of(3, kernel_start)
        row("notebook kernel start-up (python3)", kernel)
        medians = []
        for path in sorted(NOTEBOOKS.glob("*.ipynb")):
            seconds, waiting = notebook_times(path, args.notebook_runs)
            medians.append(seconds)
            waits = f", deliberate waiting {waiting:.1f} s" if waiting else ""
            row(f"notebook {path.name} (kernel share {kernel / seconds:.0%}{waits})", seconds)
        row("runbook notebooks: the median of the figures above (goal: 4 s)", statistics.median(medians))
        with tempfile.TemporaryDirectory() as site:
            row(
                "mkdocs build --strict (both languages)",
                median_of(
                    3,
                    lambda: subprocess.run(
                        [str(Path(sys.executable).parent / "mkdocs"), "build", "--strict", "-q", "-d", site],
                        cwd=REPO_ROOT,
                        check=True,
                        capture_output=True,
                    ),
                ),
            )
    finally:
        srv.stop()
        del os.environ["DATABASE_URL"]
    if args.suite:
        row("make test-fast, end to end (warm virtual environment)", timed_make("test-fast"))
        row("make test, end to end (warm virtual environment; goal: 100 s)", timed_make("test"))
    print(
        f"\n{time.strftime('%Y-%m-%d')}, {os.cpu_count()} cores, Python {sys.version.split()[0]}, "
        f"median of {args.runs} runs ({args.notebook_runs} for notebooks; 3 for builds and cold starts); "
        f"load average {os.getloadavg()[0]:.1f}\n"
    )
    print("| what | seconds |\n|---|---:|")
    for label, seconds in rows:
        print(f"| {label} | {' / '.join(f'{s:.3f}' for s in seconds)} |")
    print(f"| reference / warm start | {ratio:.1f}x |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
