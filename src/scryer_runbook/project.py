"""The Scryer Alembic project, and the real `alembic` CLI run against it as a reader would run it in a terminal."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from scryer_runbook import fastcli
from scryer_runbook.urls import mask_text

REPO_ROOT = Path(__file__).resolve().parents[2]
PROJECT_FILES = ("alembic.ini", "alembic", "src/backend")


@dataclass
class Result:
    """What a command printed (passwords masked) and how it exited."""

    args: list[str]
    returncode: int
    output: str

    def __str__(self) -> str:
        return self.output

    def show(self) -> Result:
        """Print like a terminal would: the command, then its output (for notebooks)."""
        print(f"$ {shlex.join(self.args)}\n{self.output}".rstrip() + (f"\n[exit {self.returncode}]"
                                                                     if self.returncode else ""))
        return self


def run(args: list[str], url: str | None = None, cwd: Path | str = REPO_ROOT, timeout: float = 120,
        runner=subprocess.run) -> Result:
    """Run a command with ``DATABASE_URL`` set to ``url``; stdout and stderr interleaved as a terminal shows them.

    ``runner`` is ``subprocess.run`` or a drop-in for it (``fastcli.run``)."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    if url is not None:
        env["DATABASE_URL"] = url
    done = runner(args, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                  timeout=timeout)
    return Result(args, done.returncode, mask_text(done.stdout))


def alembic(*args: str, url: str | None = None, project: Path | str = REPO_ROOT, check: bool = False) -> Result:
    """``alembic ARGS`` in ``project`` via this interpreter (a kernel's PATH may lack the venv's bin).

    Through the preloaded fork server (fastcli): the same process-per-command CLI, without its import time."""
    result = run([sys.executable, "-m", "alembic", *args], url=url, cwd=project, runner=fastcli.run)
    result.args = ["alembic", *args]
    if check and result.returncode != 0:
        raise RuntimeError(f"{shlex.join(['alembic', *args])} failed with exit {result.returncode}:\n{result.output}")
    return result


def copy_project(destination: Path | str) -> Path:
    """A throwaway copy of the Alembic project, for scenarios that edit scripts or models."""
    destination = Path(destination)
    for name in PROJECT_FILES:
        source = REPO_ROOT / name
        target = destination / name
        if source.is_dir():
            shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    return destination
