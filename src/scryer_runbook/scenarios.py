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
    if str(projects.REPO_ROOT) not in sys.path:  # the models are `src.backend...`; a kernel runs in notebooks/
        sys.path.insert(0, str(projects.REPO_ROOT))
    from src.backend.app.models import Base  # noqa: PLC0415

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


# not-ready ------------------------------------------------------------------------------------------------------
# Real servers in the states the start-up wait meets. Every server started here is stopped when its `with` block
# ends, also when the block fails, and at interpreter exit if a kernel dies inside one.

import atexit  # noqa: E402 - this runbook's section keeps its imports with it
import contextlib  # noqa: E402
import os  # noqa: E402
import shlex  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402

from scryer_runbook import server  # noqa: E402
from scryer_runbook import project as projects  # noqa: E402


def unused_port() -> int:
    """A loopback port nothing listens on (bound, then released): connecting there is refused."""
    return server.free_port()


@contextlib.contextmanager
def _stopped_at_exit(srv):
    """Stop ``srv`` when the block ends, or at interpreter exit if it never does."""
    atexit.register(srv.stop)
    try:
        yield srv
    finally:
        srv.stop()
        atexit.unregister(srv.stop)


@dataclass
class LateServer:
    """A server that starts ``delay`` seconds after the block begins, on a port chosen up front."""

    port: int
    delay: float
    server: server.LocalServer | None = None  # once started
    error: BaseException | None = None

    @property
    def url(self) -> str:
        return f"postgresql://{server.SUPERUSER}@127.0.0.1:{self.port}/postgres"


@contextlib.contextmanager
def late_server(delay: float = 2.0, port: int | None = None):
    """A server that comes up ``delay`` seconds late (a Compose db container still initialising); stopped on exit."""
    late = LateServer(port or unused_port(), delay)
    cancelled = threading.Event()

    def start() -> None:
        if cancelled.wait(delay):
            return
        try:
            late.server = server.start_server(port=late.port)
            atexit.register(late.server.stop)
        except BaseException as error:  # noqa: BLE001 - reported to the waiting side via ``late.error``
            late.error = error

    thread = threading.Thread(target=start, name=f"late-server-{late.port}", daemon=True)
    thread.start()
    try:
        yield late
    finally:
        cancelled.set()
        thread.join()
        if late.server:
            late.server.stop()
            atexit.unregister(late.server.stop)


NOT_ACCEPTING_STATES = {
    # state: (what is done to a real server, the FATAL line a client then gets)
    "starting": ("archive recovery whose restore_command hangs: the startup process never finishes",
                 "the database system is starting up"),
    "not-accepting": ("a standby (standby.signal) with hot_standby = off",
                      "the database system is not accepting connections"),
    "shutting-down": ("`pg_ctl stop -m smart` while a session is still open",
                      "the database system is shutting down"),
}


@contextlib.contextmanager
def server_in_state(state: str):
    """A real server that answers but refuses new sessions, in one of ``NOT_ACCEPTING_STATES``; yields its URL.

    "not yet accepting connections" (a hot standby before it is consistent) is not made here: it needs WAL
    streaming from a primary and is not deterministic; ``starting`` shows the same kind of wait.
    """
    if state not in NOT_ACCEPTING_STATES:
        raise ValueError(f"unknown state {state!r}; one of {sorted(NOT_ACCEPTING_STATES)}")
    user = server._run_as()  # noqa: SLF001 - the same unprivileged account the server runs as
    pg_ctl = None
    with _stopped_at_exit(server.start_server()) as srv:
        pg_ctl = [str(srv.bindir / "pg_ctl"), "-D", str(srv.datadir), "-l", str(srv.root / "server.log")]
        session = None
        try:
            if state == "shutting-down":
                session = psycopg.connect(srv.url, autocommit=True)
                server._run([*pg_ctl, "-m", "smart", "-W", "stop"], user)  # noqa: SLF001
            else:
                signal, setting = (("recovery.signal", "restore_command = 'sleep 300'") if state == "starting"
                                   else ("standby.signal", "hot_standby = off"))
                for name, text in ((signal, ""), ("postgresql.auto.conf", None)):
                    path = srv.datadir / name
                    if text is None:
                        with open(path, "a") as handle:
                            handle.write(f"{setting}\n")
                    else:
                        path.write_text(text)
                        if user:
                            os.chown(path, user.pw_uid, user.pw_gid)
                # restart keeps the original options (postmaster.opts); -W: "starting" never reports ready
                server._run([*pg_ctl, "-m", "fast", "-W", "restart"], user,  # noqa: SLF001
                            stdin=subprocess.DEVNULL, start_new_session=True)
            _until_refused_with(srv.url, NOT_ACCEPTING_STATES[state][1])
            yield srv.url
        finally:
            if session is not None:
                session.close()


def _until_refused_with(url: str, text: str, timeout: float = 15) -> None:
    """Wait until a connection attempt fails with ``text`` (the server is (re)starting or stopping meanwhile)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            psycopg.connect(url, connect_timeout=2).close()
            last = "connected"
        except psycopg.OperationalError as error:
            last = str(error)
            if text in last:
                return
        if time.monotonic() > deadline:
            raise RuntimeError(f"server did not reach the state {text!r}; last attempt: {last}")
        time.sleep(0.05)


def wrong_password_url(box: sandboxes.Sandbox, url: str) -> str:
    """``url``'s database reached as a scratch login role with the wrong password."""
    role, password = box.role("app")
    return sandboxes.as_role(url, role, password + "-wrong")


def missing_database_url(url: str) -> str:
    """``url`` with a database name that does not exist (a scratch name, never created)."""
    return urls.libpq(urls.parse(url).set(database=sandboxes.scratch_name("missing")))


def _maintenance(url: str) -> tuple[str, str]:
    """(database name, the same server and credentials on the ``postgres`` maintenance database)."""
    parsed = urls.parse(url)
    return parsed.database, urls.libpq(parsed.set(database="postgres"))


def drop_database(url: str) -> None:
    """The reproduce step: the app's database is gone (a fresh volume, POSTGRES_DB renamed, an init that failed)."""
    name, maintenance = _maintenance(url)
    with psycopg.connect(maintenance, autocommit=True, connect_timeout=10) as conn:
        conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


def create_database(url: str, apply: bool) -> bool:
    """The fix for "database does not exist": CREATE DATABASE as ``url``'s own user (who then owns it).

    Applied only when ``apply``; otherwise the exact command is printed. Returns whether it was created.
    """
    name, maintenance = _maintenance(url)
    statement = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
    rendered = statement.as_string(None)
    command = f"psql {urls.masked(maintenance)!r} -c '{rendered}'"
    if not apply:
        print(f"NOT applied: apply_fix=False and the target is not a sandbox. To apply, run:\n    {command}")
        return False
    try:
        with psycopg.connect(maintenance, autocommit=True, connect_timeout=10) as conn:
            print(f"{rendered};")
            conn.execute(statement)
    except psycopg.errors.InsufficientPrivilege as error:
        print(f"could not create it as {urls.parse(url).username!r}: {error}\n"
              f"run it as a role with CREATEDB (e.g. the postgres superuser):\n    {command}")
        return False
    return True


def run_wait_script(url: str, timeout: int = 3, interval: int = 1):
    """``docker/wait-for-postgres.sh HOST PORT`` as the container runs it, for ``url``'s host and port, with ``url``
    as DATABASE_URL (the app's role and database, which its real-connection step logs in with).

    The port goes in as ``$PORT`` so the printed command is the one that ran and stays the same from run to run.
    """
    parsed = urls.parse(url)
    env = {**os.environ, "WAIT_TIMEOUT": str(timeout), "WAIT_INTERVAL": str(interval), "PORT": str(parsed.port or 5432),
           "DATABASE_URL": urls.libpq(parsed), "PYTHONUNBUFFERED": "1",
           # the script execs `scryer-runbook wait`; a kernel's PATH may lack this interpreter's bin
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    env.pop("POSTGRES_HOST", None)  # else `scryer-runbook wait` would check the POSTGRES_* settings instead of url
    script = f'docker/wait-for-postgres.sh {shlex.quote(parsed.host or "localhost")} "$PORT"'
    done = subprocess.run(["bash", "-c", f"exec bash {script}"], cwd=projects.REPO_ROOT, env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=timeout + 60)
    return projects.Result([f"WAIT_TIMEOUT={timeout}", f"WAIT_INTERVAL={interval}", script], done.returncode,
                           urls.mask_text(done.stdout))


# permissions runbook --------------------------------------------------------------------------------------------

import sqlalchemy as _sa  # noqa: E402 - this runbook's section keeps its imports with it


def try_as(url: str, *statements: str, commit: bool = False) -> Exception | None:
    """Run SQL as ``url``'s role through SQLAlchemy, as the app would; printed psql-style, with the error as the app
    would log it. Stops at the first error and returns it (None when all ran). Rolled back unless ``commit``."""
    role = urls.parse(url).username
    engine = create_engine(urls.sqlalchemy(url), poolclass=pool.NullPool)
    conn = None
    try:
        for statement in statements:
            print(f"{role}=> {statement};")
            conn = conn or engine.connect()  # a login refused (no CONNECT privilege) fails here, after the prompt
            result = conn.execute(_sa.text(statement))
            print(f"OK {result.fetchall()}" if result.returns_rows else
                  "OK" + (f", {result.rowcount} row(s)" if result.rowcount >= 0 else ""))
        if commit and conn is not None:
            conn.commit()
    except _sa.exc.DBAPIError as error:
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
    return try_as(
        app_url,
        f"INSERT INTO users (id, username, email) VALUES ('{PROBE_USER}', 'probe', 'probe@example.com')",
        f"INSERT INTO tasks (id, user_id, title) VALUES (gen_random_uuid(), '{PROBE_USER}', 'probe')",
        "SELECT count(*) FROM users JOIN tasks ON tasks.user_id = users.id",
        "UPDATE tasks SET title = 'probed'",
        "DELETE FROM users",  # ON DELETE CASCADE: the task goes too
        "SELECT version_num FROM alembic_version",
    )


# autogenerate-drift runbook -------------------------------------------------------------------------------------

import atexit as _atexit  # noqa: E402
import difflib as _difflib  # noqa: E402
import shutil as _shutil  # noqa: E402
import tempfile as _tempfile  # noqa: E402

from scryer_runbook.project import REPO_ROOT as _REPO_ROOT  # noqa: E402
from scryer_runbook.project import copy_project as _copy_project  # noqa: E402


def throwaway_project() -> Path:
    """A copy of this repository's Alembic project in a new temp folder; removed by ``remove_throwaway`` and, if a
    cell fails before that, at interpreter exit."""
    root = Path(_tempfile.mkdtemp(prefix="scryer-runbook-"))
    _atexit.register(_shutil.rmtree, root, ignore_errors=True)
    return _copy_project(root / "scryer")


def remove_throwaway(project: Path) -> None:
    _shutil.rmtree(Path(project).parent, ignore_errors=True)


def database_at_head_with_a_user(url: str, project: Path) -> None:
    """The starting point: the database at head (models and database agree) holding one user, ada."""
    alembic("upgrade", "head", url=url, project=project, check=True)
    with psycopg.connect(url) as conn:
        conn.execute("INSERT INTO users (id, username, email) VALUES (gen_random_uuid(), 'ada', 'ada@example.com')")


def model_diff(project: Path, model: str = "user") -> str:
    """The unified diff of one model between this repository and a project copy (what the developer changed)."""
    relative = f"src/backend/app/models/{model}.py"
    before = (_REPO_ROOT / relative).read_text().splitlines(keepends=True)
    after = (Path(project) / relative).read_text().splitlines(keepends=True)
    return "".join(_difflib.unified_diff(before, after, f"a/{relative}", f"b/{relative}")).rstrip()


def compare_server_default(project: Path, on: bool) -> None:
    """Set env.py's ``compare_server_default`` in a project copy (Alembic's own default is off; this repo's is on)."""
    path = Path(project) / "alembic" / "env.py"
    text = path.read_text()
    old, new = f"compare_server_default={not on}", f"compare_server_default={on}"
    if old in text:
        path.write_text(text.replace(old, new, 1))
    elif new not in text:
        raise ValueError(f"compare_server_default not set in {path.name}")


def revision_files(project: Path) -> set[Path]:
    return set((Path(project) / "alembic" / "versions").glob("*.py"))


def revision_body(path: Path) -> str:
    """A revision file from ``def upgrade`` on: what runs, without the header."""
    text = Path(path).read_text()
    return text[text.index("def upgrade"):].rstrip()


def destructive_operations(path: Path) -> list[str]:
    """The lines of a revision's upgrade() that throw data away: drop_column / drop_table.

    Autogenerate writes a column rename as add_column + drop_column: such a revision must be edited by a human.
    """
    upgrade = Path(path).read_text().split("def downgrade")[0]
    return [line.strip() for line in upgrade.splitlines() if re.match(r"\s*op\.(drop_column|drop_table)\(", line)]


def relax_not_null(path: Path, column: str) -> None:
    """The tempting "fix" after ``NotNullViolation``: make the added column nullable. The migration then runs, and the
    dropped column's data is gone."""
    path = Path(path)
    text = path.read_text()
    upgrade, rest = text.split("def downgrade", 1)
    pattern = rf"(op\.add_column\([^\n]*sa\.Column\({column!r}, [^\n]*nullable=)False"
    if not re.search(pattern, upgrade):
        raise ValueError(f"no NOT NULL add_column for {column!r} in {path.name}")
    path.write_text(re.sub(pattern, r"\1True", upgrade, count=1) + "def downgrade" + rest)


def drop_unique_constraint_churn(path: Path, table: str, old: str, new: str) -> None:
    """Finish a rename edit: autogenerate also drops the old column's UNIQUE constraint and adds an unnamed one on the
    new column. After ``alter_column(new_column_name=...)`` the constraint simply follows the column, so both are
    removed, in upgrade() and downgrade() (whose ``drop_constraint(None, ...)`` could not run anyway)."""
    path = Path(path)
    key = re.escape(f"{table}_{old}_key")
    patterns = [
        rf"\n[ \t]*op\.drop_constraint\(op\.f\('{key}'\), '{table}', type_='unique'\)",
        rf"\n[ \t]*op\.create_unique_constraint\(None, '{table}', \['{new}'\]\)",
        r"\n[ \t]*# WARNING: constraint name is None;[^\n]*(\n[ \t]*#[^\n]*)*",
        rf"\n[ \t]*op\.drop_constraint\(None, '{table}', type_='unique'\)",
        rf"\n[ \t]*op\.create_unique_constraint\(op\.f\('{key}'\), '{table}', \['{old}'\][^\n]*\)",
    ]
    text = path.read_text()
    for pattern in patterns:
        text = re.sub(pattern, "", text, count=1)
    path.write_text(text)
