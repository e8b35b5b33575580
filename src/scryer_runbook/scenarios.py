"""Reproduce steps: each breaks a sandbox database (or a throwaway copy of the scripts) the way a runbook describes.

The notebooks call these to reproduce, and the doctor's tests call the same ones, so a runbook and the doctor
can never disagree about what a failure looks like.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql
from sqlalchemy import create_engine, pool

from scryer_runbook import sandbox as sandboxes
from scryer_runbook import urls
from scryer_runbook.project import alembic

# already-exists -------------------------------------------------------------------------------------------------


def create_tables_outside_alembic(url: str) -> None:
    """The usual root cause: the app (or a script) ran ``Base.metadata.create_all()``; no alembic_version."""
    from src.backend.app.models import Base  # noqa: PLC0415 - the Scryer models, importable from the repo root

    engine = create_engine(urls.sqlalchemy(url), poolclass=pool.NullPool)
    try:
        Base.metadata.create_all(engine)
    finally:
        engine.dispose()


def schema_at_revision_without_version(url: str, revision: str) -> None:
    """The partial case: the live schema matches an older revision, but nothing records which one."""
    alembic("upgrade", revision, url=url, check=True)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DROP TABLE alembic_version")


# multiple-heads -------------------------------------------------------------------------------------------------

BRANCHES = {  # two developers, one parent: each adds a column in a new revision
    "005_add_tasks_priority": ("add tasks.priority", "tasks", "priority"),
    "005_add_users_last_login": ("add users.last_login", "users", "last_login"),
}


def branch_scripts(project: Path, parent: str = "004_index_tasks_created_at") -> list[str]:
    """Create two revisions on the same parent in a throwaway project copy (never the repository's own)."""
    for rev_id, (message, table, column) in BRANCHES.items():
        # --splice: the second revision branches off a parent that is no longer a head, as a git merge would leave it
        alembic("revision", "-m", message, "--head", parent, "--splice", "--rev-id", rev_id, project=project,
                check=True)
        path = Path(project) / "alembic" / "versions" / f"{rev_id}.py"
        text = path.read_text()
        text = text.replace('"""Upgrade schema."""\n    pass',
                            f'"""Upgrade schema."""\n    op.add_column({table!r}, sa.Column({column!r}, sa.Integer()))')
        text = text.replace('"""Downgrade schema."""\n    pass',
                            f'"""Downgrade schema."""\n    op.drop_column({table!r}, {column!r})')
        path.write_text(text)
    return list(BRANCHES)


# permissions ----------------------------------------------------------------------------------------------------


@dataclass
class Roles:
    """An owner role that migrations run as, and the app's role, on one database."""

    database_url: str
    owner: str
    owner_password: str
    app: str
    app_password: str

    @property
    def owner_url(self) -> str:
        return sandboxes.as_role(self.database_url, self.owner, self.owner_password)

    @property
    def app_url(self) -> str:
        return sandboxes.as_role(self.database_url, self.app, self.app_password)


def split_roles(box: sandboxes.Sandbox, url: str) -> Roles:
    """Owner + app roles on ``url``'s database; the owner owns the database (so, on PG 15+, the public schema)."""
    owner, owner_password = box.role("owner")
    app, app_password = box.role("app")
    database = urls.parse(url).database
    with sandboxes.admin_connect(box.admin_url) as conn:
        conn.execute(sql.SQL("ALTER DATABASE {} OWNER TO {}").format(sql.Identifier(database), sql.Identifier(owner)))
    return Roles(url, owner, owner_password, app, app_password)


def migrate_as_owner_without_grants(box: sandboxes.Sandbox, url: str) -> Roles:
    """The failure: tables created by the owner, the app role never granted anything on them."""
    roles = split_roles(box, url)
    alembic("upgrade", "head", url=roles.owner_url, check=True)
    return roles


def least_privilege_grants(owner: str, app: str, schema: str = "public") -> list[sql.Composed]:
    """The grants that let the app role read and write, now and for tables the owner creates later."""
    ids = {"schema": sql.Identifier(schema), "owner": sql.Identifier(owner), "app": sql.Identifier(app)}
    statements = [
        "GRANT USAGE ON SCHEMA {schema} TO {app}",
        "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {schema} TO {app}",
        "GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {schema} TO {app}",
        # Default privileges apply only to objects *this owner* creates later: Alembic must connect as the owner.
        "ALTER DEFAULT PRIVILEGES FOR ROLE {owner} IN SCHEMA {schema} "
        "GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {app}",
        "ALTER DEFAULT PRIVILEGES FOR ROLE {owner} IN SCHEMA {schema} GRANT USAGE, SELECT ON SEQUENCES TO {app}",
    ]
    return [sql.SQL(statement).format(**ids) for statement in statements]


# autogenerate-drift ---------------------------------------------------------------------------------------------


def edit_model(project: Path, model: str, old: str, new: str) -> None:
    """Change one line of a model in a project copy, as a developer would before running autogenerate."""
    path = Path(project) / "src" / "backend" / "app" / "models" / f"{model}.py"
    text = path.read_text()
    if old not in text:
        raise ValueError(f"{old!r} not found in {path.name}")
    path.write_text(text.replace(old, new, 1))


def rename_username_to_login(project: Path) -> None:
    """A rename: autogenerate cannot see it and proposes drop + add (losing the data)."""
    edit_model(project, "user", "    username = Column(", "    login = Column(")


def add_server_default_to_is_active(project: Path) -> None:
    """A server default: seen only because env.py turns on compare_server_default (Alembic's default is off)."""
    edit_model(project, "user", "is_active = Column(Boolean, default=True)",
               "is_active = Column(Boolean, default=True, server_default=text('true'))")
    edit_model(project, "user", "from sqlalchemy import Column, String, Boolean",
               "from sqlalchemy import Column, String, Boolean, text")


def latest_revision_file(project: Path) -> Path:
    """The newest file in the copy's versions folder (the one `alembic revision` just wrote)."""
    return max((Path(project) / "alembic" / "versions").glob("*.py"), key=lambda p: p.stat().st_mtime_ns)


def rewrite_drop_add_as_rename(path: Path, table: str, old: str, new: str) -> None:
    """The fix for a rename: replace autogenerate's add_column/drop_column pair by alter_column(new_column_name)."""
    text = path.read_text()
    upgrade, downgrade = text.split("def downgrade()")
    upgrade = re.sub(r"\n\s*op\.(add|drop)_column\(.*\)", "", upgrade)
    upgrade = upgrade.replace('"""Upgrade schema."""', f'"""Upgrade schema."""\n    op.alter_column({table!r}, {old!r}, '
                                                         f'new_column_name={new!r})', 1)
    downgrade = re.sub(r"\n\s*op\.(add|drop)_column\(.*\)", "", downgrade)
    downgrade = downgrade.replace('"""Downgrade schema."""', f'"""Downgrade schema."""\n    op.alter_column({table!r}, '
                                                             f'{new!r}, new_column_name={old!r})', 1)
    path.write_text(upgrade + "def downgrade()" + downgrade)


# already-exists (runbook notebook) ------------------------------------------------------------------------------


def app_ran_create_all(url: str) -> None:
    """``create_tables_outside_alembic`` from any working directory (a notebook kernel runs in notebooks/).

    The models are imported as ``src.backend.app.models``, which needs the repository root on ``sys.path``.
    """
    import sys  # noqa: PLC0415

    from scryer_runbook.project import REPO_ROOT  # noqa: PLC0415

    if str(REPO_ROOT) not in sys.path:
        sys.path.insert(0, str(REPO_ROOT))
    create_tables_outside_alembic(url)
