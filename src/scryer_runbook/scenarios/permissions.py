"""Reproduce steps for the permissions runbook: an owner role that migrates, an app role that reads and writes rows."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from psycopg import sql
from sqlalchemy import create_engine, pool

from scryer_runbook import sandbox as sandboxes
from scryer_runbook import urls
from scryer_runbook.project import alembic


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
        conn.execute(
            sql.SQL("ALTER DATABASE {} OWNER TO {}").format(sql.Identifier(database), sql.Identifier(owner))
        )
    return Roles(url, owner, owner_password, app, app_password)


def migrate_as_owner_without_grants(box: sandboxes.Sandbox, url: str) -> Roles:
    """The failure: tables created by the owner, the app role never granted anything on them."""
    roles = split_roles(box, url)
    alembic("upgrade", "head", url=roles.owner_url, check=True)
    return roles


def least_privilege_grants(
    owner: str, app: str, schema: str = "public", version_table: str | None = None
) -> list[sql.Composed]:
    """The grants that let the app role read and write, now and for tables the owner creates later; with
    ``version_table``, the app role keeps only SELECT on it (it must never write Alembic's record)."""
    ids = {
        "schema": sql.Identifier(schema),
        "owner": sql.Identifier(owner),
        "app": sql.Identifier(app),
        "version_table": sql.Identifier(version_table or "alembic_version"),
    }
    statements = [
        "GRANT USAGE ON SCHEMA {schema} TO {app}",
        "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {schema} TO {app}",
        "GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {schema} TO {app}",
        # Default privileges apply only to objects *this owner* creates later: Alembic must connect as the owner.
        "ALTER DEFAULT PRIVILEGES FOR ROLE {owner} IN SCHEMA {schema} "
        "GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {app}",
        "ALTER DEFAULT PRIVILEGES FOR ROLE {owner} IN SCHEMA {schema} GRANT USAGE, SELECT ON SEQUENCES TO {app}",
    ]
    if version_table:
        statements.append("REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON {schema}.{version_table} FROM {app}")
    return [sql.SQL(statement).format(**ids) for statement in statements]


def ownership_fixes(foreign: list[tuple[str, str, str]], owner: str) -> list[sql.Composed]:
    """Give the objects another role created back to the migration role (``diagnosis.foreign_owned``).

    ``ALTER ... OWNER TO`` must be run by the current owner or a superuser, and the one running it must be a
    member of ``owner``; ``REASSIGN OWNED BY <old> TO <owner>`` does it for everything a role owns, as a superuser
    (or a member of both roles)."""
    return [
        sql.SQL("ALTER {} {} OWNER TO {}").format(sql.SQL(kind), sql.Identifier(name), sql.Identifier(owner))
        for kind, name, _ in foreign
    ]


def try_as(url: str, *statements: str, commit: bool = False) -> Exception | None:
    """Run SQL as ``url``'s role through SQLAlchemy, as the app would; printed psql-style, with the error as the app
    would log it. Stops at the first error and returns it (None when all ran). Rolled back unless ``commit``."""
    role = urls.parse(url).username
    engine = create_engine(urls.sqlalchemy(url), poolclass=pool.NullPool)
    conn = None
    try:
        for statement in statements:
            print(f"{role}=> {statement};")
            conn = (
                conn or engine.connect()
            )  # a login refused (no CONNECT privilege) fails here, after the prompt
            result = conn.execute(sa.text(statement))
            print(
                f"OK {result.fetchall()}"
                if result.returns_rows
                else "OK" + (f", {result.rowcount} row(s)" if result.rowcount >= 0 else "")
            )
        if commit and conn is not None:
            conn.commit()
    except sa.exc.DBAPIError as error:
        print(urls.mask_text(f"{type(error).__module__}.{type(error).__name__}: {error}"))
        return error
    finally:
        if conn is not None:
            conn.close()
        engine.dispose()
    return None


PROBE_USER = "00000000-0000-4000-8000-000000000001"


def app_round_trip(app_url: str) -> Exception | None:
    """What the app does with every Scryer table: insert, read, update and delete a user and a task (rolled back)."""
    probe = PROBE_USER  # this module's constant, not input
    return try_as(
        app_url,
        f"INSERT INTO users (id, username, email) VALUES ('{probe}', 'probe', 'probe@example.com')",  # noqa: S608
        f"INSERT INTO tasks (id, user_id, title) VALUES (gen_random_uuid(), '{probe}', 'probe')",  # noqa: S608
        "SELECT count(*) FROM users JOIN tasks ON tasks.user_id = users.id",
        "UPDATE tasks SET title = 'probed'",
        "DELETE FROM users",  # ON DELETE CASCADE: the task goes too
        "SELECT version_num FROM alembic_version",
    )
