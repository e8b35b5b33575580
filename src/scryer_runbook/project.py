"""Alembic projects (Scryer's and the reader's own), and their real CLI run as a reader would run it in a terminal."""

from __future__ import annotations

import configparser
import os
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from scryer_runbook import fastcli, guard, urls
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
        print(
            f"$ {shlex.join(self.args)}\n{self.output}".rstrip()
            + (f"\n[exit {self.returncode}]" if self.returncode else "")
        )
        return self


def run(
    args: list[str],
    url: str | None = None,
    cwd: Path | str = REPO_ROOT,
    timeout: float = 120,
    env: dict | None = None,
    stdout_only: bool = False,
    runner=subprocess.run,
) -> Result:
    """Run a command with ``DATABASE_URL`` set to ``url``; stdout and stderr interleaved as a terminal shows them
    (``stdout_only``: stdout alone when the command succeeds, e.g. the SQL of ``--sql`` without the log lines).
    ``runner``: ``subprocess.run`` or a drop-in for it (``fastcli.run``)."""
    env = {
        **os.environ,
        "PYTHONUNBUFFERED": "1",
        **({"DATABASE_URL": url} if url is not None else {}),
        **(env or {}),
    }
    done = runner(
        args,
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
        timeout=timeout,
        stderr=subprocess.PIPE if stdout_only else subprocess.STDOUT,
    )
    output = done.stdout if not stdout_only or done.returncode == 0 else done.stdout + done.stderr
    return Result(args, done.returncode, mask_text(output))


# The session settings of a read-only diagnosis: the server refuses writes, and no lock is waited on for long.
READ_ONLY_PGOPTIONS = "-c default_transaction_read_only=on -c lock_timeout=2s -c statement_timeout=30s"
# Where projects read their database from: the variables their settings use in the layouts people use.
URL_VARIABLES = ("DATABASE_URL", "SQLALCHEMY_DATABASE_URI")
PART_VARIABLES = {
    "host": ("POSTGRES_SERVER", "POSTGRES_HOST", "PGHOST"),
    "port": ("POSTGRES_PORT", "PGPORT"),
    "username": ("POSTGRES_USER", "PGUSER"),
    "password": ("POSTGRES_PASSWORD", "PGPASSWORD"),
    "database": ("POSTGRES_DB", "PGDATABASE"),
}


@dataclass(frozen=True)
class AlembicProject:
    """An Alembic project as its developers run it: which CLI (``alembic`` or Flask-Migrate's ``flask db``), from
    which folder, and which variables its settings read the database from.

    ``[scryer_runbook] url_env = NAME, ...`` in the ini names extra variables that hold the project's URL.
    """

    ini: Path
    cli: tuple[str, ...]  # what a reader types: ("alembic",), ("alembic", "-c", "prod.ini"), ("flask", "db")
    workdir: Path  # where that command is run
    url_variables: tuple[str, ...] = URL_VARIABLES

    @classmethod
    def find(cls, alembic_ini: str | Path | None = None) -> AlembicProject:
        ini = Path(alembic_ini).resolve() if alembic_ini else REPO_ROOT / "alembic.ini"
        if ini.is_dir():
            ini = ini / "alembic.ini"
        if not ini.is_file():
            raise FileNotFoundError(f"{ini}: no such file (alembic_ini must name the project's alembic.ini)")
        parser = configparser.ConfigParser(interpolation=None)
        parser.read(ini)
        extra = tuple(
            name.strip()
            for name in parser.get("scryer_runbook", "url_env", fallback="").split(",")
            if name.strip()
        )
        variables = URL_VARIABLES + extra
        if not parser.has_option("alembic", "script_location"):  # Flask-Migrate: `flask db` sets it
            folder = ini.parent
            cli = ("flask", "db") if folder.name == "migrations" else ("flask", "db", "-d", str(folder))
            return cls(ini, cli, folder.parent, variables)
        cli = ("alembic",) if ini.name == "alembic.ini" else ("alembic", "-c", ini.name)
        return cls(ini, cli, ini.parent, variables)

    @property
    def is_multidb(self) -> bool:
        """Alembic's ``multidb`` template: several databases, one chain each (``databases = a, b`` in the ini)."""
        parser = configparser.ConfigParser(interpolation=None)
        parser.read(self.ini)
        return parser.has_option("alembic", "databases")

    @property
    def is_flask(self) -> bool:
        return self.cli[0] == "flask"

    def shown(self, *args: str) -> str:
        """The command as a reader would type it in the project's folder."""
        return shlex.join([*self.cli, *args])

    def config(self):
        """Alembic's Config for reading the scripts (``script_location`` filled in for Flask-Migrate)."""
        from alembic.config import Config  # noqa: PLC0415 - the CLI's other commands do not need Alembic

        config = Config(str(self.ini))
        config.attributes["configure_logger"] = False
        if self.is_flask:
            config.set_main_option("script_location", str(self.ini.parent))
        elif not Path(config.get_main_option("script_location", "")).is_absolute() and "%(here)s" not in (
            config.file_config.get("alembic", "script_location", raw=True) or ""
        ):
            location = self.workdir / config.get_main_option("script_location")
            config.set_main_option("script_location", str(location))
        # `python -m alembic` in workdir has workdir on sys.path, and relative prepend_sys_path entries mean
        # folders below it: the same paths, absolute, for reading the project in another process's folder.
        paths = [str(self.workdir / path) for path in config.get_prepend_sys_paths_list() or []]
        config.set_main_option("path_separator", "os")
        config.set_main_option("prepend_sys_path", os.pathsep.join([*paths, str(self.workdir)]))
        return config

    def settings_env(self, url: str) -> dict[str, str]:
        """Environment variables that point the project's own settings at ``url`` (never printed)."""
        parsed = urls.parse(url)
        env = {name: urls.sqlalchemy(parsed) for name in self.url_variables}
        parts = {
            "host": parsed.host or "localhost",
            "port": str(parsed.port or 5432),
            "username": parsed.username or "",
            "password": parsed.password or "",
            "database": parsed.database or "",
        }
        for part, names in PART_VARIABLES.items():
            for name in names:
                env[name] = parts[part]
        return env

    def run(
        self,
        *args: str,
        url: str | None = None,
        allow: list[str] | None = None,
        read_only: bool = False,
        timeout: float = 120,
        stdout_only: bool = False,
        env: dict[str, str] | None = None,
    ) -> Result:
        """The project's CLI with ``args``, able to connect to ``allow`` only (default: ``url``; [] = nothing).

        ``url`` is where the project's settings are pointed; whatever its env.py does, the guard refuses every
        other database (``guard.GUARD_REFUSED`` in the output). Without ``url``: ``DATABASE_URL``, if set."""
        url = url or os.environ.get("DATABASE_URL")
        env = {
            **(self.settings_env(url) if url else {}),
            **(env or {}),
        }  # env: session settings, PGAPPNAME...
        allowed = [urls.libpq(item) for item in (allow if allow is not None else [url] if url else [])]
        env[guard.ALLOW_ENV] = guard.allow_env(allowed)
        if read_only:
            env["PGOPTIONS"] = READ_ONLY_PGOPTIONS
        tool = "flask" if self.is_flask else "alembic"
        # Through the preloaded fork server (fastcli): a process per command as here, without its import time.
        result = run(
            [sys.executable, "-m", "scryer_runbook.guard", tool, *self.cli[1:], *args],
            cwd=self.workdir,
            env=env,
            timeout=timeout,
            stdout_only=stdout_only,
            runner=fastcli.run,
        )
        result.args = [*self.cli, *args]
        return result


def alembic(
    *args: str,
    url: str | None = None,
    project: Path | str | AlembicProject = REPO_ROOT,
    check: bool = False,
    read_only: bool = False,
) -> Result:
    """``alembic ARGS`` in ``project`` (a folder with alembic.ini, or an AlembicProject) via this interpreter (a
    kernel's PATH may lack the venv's bin), reaching only ``url``."""
    found = (
        project if isinstance(project, AlembicProject) else AlembicProject.find(Path(project) / "alembic.ini")
    )
    result = found.run(*args, url=url, read_only=read_only)
    if check and result.returncode != 0:
        raise RuntimeError(f"{found.shown(*args)} failed with exit {result.returncode}:\n{result.output}")
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
