"""Fixture projects in the layouts real Alembic projects use, so tests prove things beyond the Scryer app.

Each project in ``tests/fixtures/projects/<name>/`` reads its database URL(s) from its OWN settings (env vars;
only the Flask one reads ``DATABASE_URL``), has 3 revisions with readable ids, one of which only changes data.
``copy_project(name, tmp_path)`` gives a private copy and a handle to run its own CLI::

    project = copy_project("settings_sqlmodel", tmp_path)
    result = project.run("upgrade", "head", url=empty_db)
    assert result.returncode == 0, result.output
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import make_url

PROJECTS_DIR = Path(__file__).resolve().parent / "fixtures" / "projects"


@dataclass(frozen=True)
class Layout:
    """What is fixed about one fixture project (paths are relative to the project's root)."""

    name: str
    ini_relpath: str  # the Alembic ini file
    workdir_relpath: str  # where the project's CLI is run from
    flask: bool  # run as `flask db ...` (Flask-Migrate) instead of `alembic -c <ini> ...`
    env_vars: tuple[str, ...]  # every variable the project's settings read for its URL(s)
    databases: tuple[str, ...]  # the multidb names, one URL each; ("main",) for a single database
    metadata_spec: str  # module:attr of the models' MetaData, importable from workdir
    version_table: str  # schema-qualified when not in the default schema
    revisions: tuple[str, ...]  # base to head
    data_revision: str  # the revision that inserts rows and changes no schema
    data_table: str  # where it inserts (in the first database)
    data_rows: int  # how many rows it inserts there


LAYOUTS = {
    layout.name: layout
    for layout in (
        Layout(
            "settings_sqlmodel",
            ini_relpath="backend/alembic.ini",
            workdir_relpath="backend",
            flask=False,
            env_vars=(
                "POSTGRES_SERVER",
                "POSTGRES_PORT",
                "POSTGRES_USER",
                "POSTGRES_PASSWORD",
                "POSTGRES_DB",
            ),
            databases=("main",),
            metadata_spec="app.models:SQLModel.metadata",
            version_table="alembic_version",
            revisions=("a1_create_owner_item", "a2_add_item_priority", "a3_seed_demo_owner"),
            data_revision="a3_seed_demo_owner",
            data_table="item",
            data_rows=2,
        ),
        Layout(
            "flask_migrate",
            ini_relpath="migrations/alembic.ini",
            workdir_relpath=".",
            flask=True,
            env_vars=("DATABASE_URL",),
            databases=("main",),
            metadata_spec="app.models:db.metadata",
            version_table="alembic_version",
            revisions=("b1_users_table", "b2_posts_table", "b3_admin_user"),
            data_revision="b3_admin_user",
            data_table='"user"',
            data_rows=1,
        ),
        Layout(
            "custom_version_table",
            ini_relpath="alembic.ini",
            workdir_relpath=".",
            flask=False,
            env_vars=("APP_DB_URL",),
            databases=("main",),
            metadata_spec="ledger.models:Base.metadata",
            version_table="meta.schema_history",
            revisions=("c1_accounts", "c2_chart_of_accounts", "c3_entries"),
            data_revision="c2_chart_of_accounts",
            data_table="accounts",
            data_rows=3,
        ),
        Layout(
            "async_env",
            ini_relpath="alembic.ini",
            workdir_relpath=".",
            flask=False,
            env_vars=("ASYNC_DATABASE_URL",),
            databases=("main",),
            metadata_spec="shop.models:Base.metadata",
            version_table="alembic_version",
            revisions=("d1_catalog", "d2_product_category", "d3_default_categories"),
            data_revision="d3_default_categories",
            data_table="categories",
            data_rows=4,
        ),
        Layout(
            "multidb",
            ini_relpath="alembic.ini",
            workdir_relpath=".",
            flask=False,
            env_vars=("MAIN_DB_URL", "AUDIT_DB_URL"),
            databases=("main", "audit"),
            metadata_spec="tracker.models:main_metadata",
            version_table="alembic_version",
            revisions=("e1_tickets_and_audit", "e2_ticket_statuses", "e3_seed_statuses"),
            data_revision="e3_seed_statuses",
            data_table="ticket_statuses",
            data_rows=3,
        ),
    )
}
NAMES = tuple(LAYOUTS)


@dataclass
class Result:
    returncode: int
    output: str  # stdout and stderr, interleaved as the CLI wrote them


@dataclass(frozen=True)
class FixtureProject(Layout):
    """A copy of one fixture project at ``root``: its layout's facts plus how to run its CLI."""

    root: Path

    @property
    def ini(self) -> Path:
        return self.root / self.ini_relpath

    @property
    def workdir(self) -> Path:
        return self.root / self.workdir_relpath

    @property
    def head(self) -> str:
        return self.revisions[-1]

    @property
    def cli(self) -> list[str]:
        """The argv prefix of the project's own migration CLI, run from ``workdir``."""
        if self.flask:
            return [sys.executable, "-m", "flask", "db"]
        return self.alembic_cli

    @property
    def alembic_cli(self) -> list[str]:
        """Plain ``alembic -c <ini>``, the way a tool that knows only Alembic would run any project."""
        return [sys.executable, "-m", "alembic", "-c", str(self.ini)]

    def env_for(self, url: str, *more_urls: str) -> dict[str, str]:
        """The variables the project's own settings read, naming ``url`` (multidb: one URL per database)."""
        given = (url, *more_urls)
        if len(given) != len(self.databases):
            raise ValueError(
                f"{self.name} needs {len(self.databases)} URL(s) "
                f"({', '.join(self.databases)}), got {len(given)}"
            )
        parsed = [make_url(u) for u in given]
        name = self.name
        if name == "settings_sqlmodel":
            (u,) = parsed
            return {
                "POSTGRES_SERVER": u.host or "",
                "POSTGRES_PORT": str(u.port or 5432),
                "POSTGRES_USER": u.username or "",
                "POSTGRES_PASSWORD": u.password or "",
                "POSTGRES_DB": u.database or "",
            }
        if name == "async_env":
            return {"ASYNC_DATABASE_URL": _render(parsed[0].set(drivername="postgresql+psycopg"))}
        return {var: _render(u) for var, u in zip(self.env_vars, parsed, strict=True)}

    def environ(self, *urls: str, env: dict[str, str] | None = None) -> dict[str, str]:
        """The environment of a run: ours minus the project's variables, then ``urls``, then ``env``.

        Dropping the project's variables first keeps the test run's own ``DATABASE_URL`` (the sandbox server)
        from reaching the Flask project unless asked for."""
        environ = {k: v for k, v in os.environ.items() if k not in self.env_vars}
        if self.flask:
            environ["FLASK_APP"] = "app"
        if urls:
            environ.update(self.env_for(*urls))
        environ.update(env or {})
        return environ

    def run(
        self,
        *args: str,
        url: str | tuple[str, ...] | None = None,
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
        cli: list[str] | None = None,
        timeout: float = 120,
    ) -> Result:
        """Run ``cli + args`` (default: the project's own CLI) from ``workdir`` (or ``cwd``).

        ``url`` is a tuple of URLs for multidb; ``env`` is applied last."""
        urls = (url,) if isinstance(url, str) else tuple(url or ())
        proc = subprocess.run(
            [*(cli or self.cli), *args],
            cwd=cwd or self.workdir,
            env=self.environ(*urls, env=env),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=timeout,
        )
        return Result(proc.returncode, proc.stdout)


def _render(url) -> str:
    return url.render_as_string(hide_password=False)


def copy_project(name: str, destination: Path) -> FixtureProject:
    """A private copy of fixture project ``name`` under ``destination`` (e.g. pytest's ``tmp_path``)."""
    layout = LAYOUTS[name]
    root = Path(destination) / name
    shutil.copytree(PROJECTS_DIR / name, root, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return FixtureProject(**vars(layout), root=root)
