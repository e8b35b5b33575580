"""Read-only facts about a database and an Alembic project, shared by the runbooks' Diagnose steps and the doctor.

"Read-only" is enforced by the server, not promised: every connection here runs with
``default_transaction_read_only=on`` and a read-only transaction, so an accidental write fails with
``cannot execute ... in a read-only transaction``.
"""

from __future__ import annotations

from pathlib import Path

import psycopg
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import MetaData, create_engine, pool

from scryer_runbook import urls
from scryer_runbook.project import REPO_ROOT

READ_ONLY_OPTIONS = "-c default_transaction_read_only=on"

# The public schema as the catalog sees it; two databases with equal snapshots have the same tables, columns,
# defaults, indexes and constraints.
SCHEMA_SNAPSHOT = """
    SELECT 'column', table_name || '.' || column_name || ' ' || data_type || ' ' || is_nullable || ' '
           || coalesce(column_default, '') FROM information_schema.columns WHERE table_schema = 'public'
    UNION ALL SELECT 'index', indexdef FROM pg_indexes WHERE schemaname = 'public'
    UNION ALL SELECT 'constraint', conrelid::regclass || ' ' || pg_get_constraintdef(oid)
              FROM pg_constraint WHERE connamespace = 'public'::regnamespace
    ORDER BY 1, 2
"""


def connect(url: str, connect_timeout: int = 5) -> psycopg.Connection:
    """A connection the server will not let write."""
    conn = psycopg.connect(urls.libpq(url), options=READ_ONLY_OPTIONS, connect_timeout=connect_timeout)
    conn.read_only = True
    return conn


def engine(url: str):
    """A SQLAlchemy engine whose sessions are read-only on the server side (for Alembic's comparisons)."""
    return create_engine(urls.sqlalchemy(url), poolclass=pool.NullPool,
                         connect_args={"options": READ_ONLY_OPTIONS, "connect_timeout": 5})


def schema_snapshot(conn: psycopg.Connection) -> list[tuple[str, str]]:
    return [row for row in conn.execute(SCHEMA_SNAPSHOT) if "alembic_version" not in row[1]]


def version_rows(conn: psycopg.Connection) -> list[str] | None:
    """The revisions recorded in ``alembic_version``; None when the table does not exist."""
    if conn.execute("SELECT to_regclass('public.alembic_version')").fetchone()[0] is None:
        return None
    return [row[0] for row in conn.execute("SELECT version_num FROM public.alembic_version ORDER BY 1")]


def app_tables(conn: psycopg.Connection) -> list[str]:
    """Tables in ``public`` other than Alembic's own."""
    return [row[0] for row in conn.execute(
        "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'alembic_version' ORDER BY 1")]


def alembic_config(ini: str | Path = REPO_ROOT / "alembic.ini") -> Config:
    config = Config(str(ini))
    config.attributes["configure_logger"] = False
    return config


def scripts(config: Config) -> ScriptDirectory:
    return ScriptDirectory.from_config(config)


def pending_revisions(script: ScriptDirectory, current: list[str]) -> list[str]:
    """Revisions between the recorded ones and the heads, oldest first (raises if a recorded one is unknown)."""
    steps = []
    for head in script.get_heads():
        for revision in script.iterate_revisions(head, tuple(current) or "base"):
            if revision.revision not in current and revision.revision not in steps:
                steps.append(revision.revision)
    return list(reversed(steps))


def drift(url: str, metadata: MetaData) -> list:
    """What `alembic check` would generate: the live schema against the models (compare_server_default on)."""
    eng = engine(url)
    try:
        with eng.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_server_default": True,
                                                             "target_metadata": metadata})
            return compare_metadata(context, metadata)
    finally:
        eng.dispose()


def matching_revision(url: str, sandbox, project: Path = REPO_ROOT) -> str | None:
    """The newest revision whose schema equals the live one, found by migrating scratch databases (never ``url``).

    This is what to `alembic stamp` when tables exist but the version table does not, instead of the guide's
    `stamp head`, which would silently skip every revision the live schema lacks.
    """
    from scryer_runbook.project import alembic  # noqa: PLC0415 - runs the real CLI

    with connect(url) as conn:
        live = schema_snapshot(conn)
    script = scripts(alembic_config(Path(project) / "alembic.ini"))
    for revision in script.walk_revisions():  # newest first
        scratch = sandbox.database("match")
        alembic("upgrade", revision.revision, url=scratch, project=project, check=True)
        with connect(scratch) as conn:
            if schema_snapshot(conn) == live:
                return revision.revision
    return None


# already-exists / multiple-heads runbooks -----------------------------------------------------------------------


def terse(result):
    """A CLI result as it reads best at 3 a.m.: traceback frames dropped, the exception lines kept.

    Object addresses (``<... at 0x7f...>`` in `alembic check` output) become ``0x…`` so that the same failure prints
    the same text on every run.
    """
    import re  # noqa: PLC0415 - used only here

    from scryer_runbook.project import Result  # noqa: PLC0415

    starts = ("Traceback (most recent call last):", "The above exception was", "During handling of the above exception")
    kept, frames = [], 0
    for line in result.output.splitlines():
        if line.startswith(starts) or (frames and (line.startswith(" ") or not line.strip())):
            frames += 1
            continue
        if frames:
            kept.append("[traceback omitted]")
            frames = 0
        kept.append(line)
    text = re.sub(r"\n\n(?=\[traceback omitted\])", "\n", "\n".join(kept))  # the blank line before a chained traceback
    text = re.sub(r" at 0x[0-9a-f]+", " at 0x…", text)
    return Result(result.args, result.returncode, text)


def next_revision_id(script: ScriptDirectory, message: str) -> str | None:
    """A revision id in the project's ``NNN_words`` style (``006_merge_branches``); None if it uses Alembic's random ids.

    Alembic's own ids are random, so a notebook's output would change on every run; this one stays put, and it fits
    ``alembic_version.version_num`` (varchar 32).
    """
    import re  # noqa: PLC0415

    numbers = [match[1] for rev in script.walk_revisions() if (match := re.match(r"(\d+)_", rev.revision))]
    if not numbers:
        return None
    latest = max(numbers, key=int)
    words = re.sub(r"[^a-z0-9]+", "_", message.lower()).strip("_")
    return f"{int(latest) + 1:0{len(latest)}d}_{words}"[:32]


def single_head_test(project: Path = REPO_ROOT) -> str | None:
    """pytest-alembic's ``test_single_head_revision`` (run by tests/test_migrations.py) on a project's scripts.

    Returns None when it passes, else its failure text. It reads the scripts only: no database is needed.
    """
    from pytest_alembic import runner  # noqa: PLC0415 - a test dependency, imported only when asked for
    from pytest_alembic.config import Config as TestConfig  # noqa: PLC0415
    from pytest_alembic.plugin.error import AlembicTestFailure  # noqa: PLC0415
    from pytest_alembic.tests import test_single_head_revision  # noqa: PLC0415

    with runner(TestConfig(config_options={"file": str(Path(project) / "alembic.ini")})) as alembic_runner:
        try:
            test_single_head_revision(alembic_runner)
        except AlembicTestFailure as failure:
            return str(failure)
    return None


# not-ready ------------------------------------------------------------------------------------------------------
# Readiness, the way the start-up wait sees it (pg_isready) and the way the app does (a real login). Both only
# attempt connections; a session that does open is read-only as above.

import shutil  # noqa: E402 - this runbook's section keeps its imports with it
import subprocess  # noqa: E402
from dataclasses import dataclass  # noqa: E402

from scryer_runbook import problems, server  # noqa: E402
from scryer_runbook.project import Result  # noqa: E402

PG_ISREADY_EXIT = {0: "accepting connections", 1: "rejecting connections (up, but refusing sessions)",
                   2: "no response", 3: "no attempt (bad parameters)"}

# What to do about each kind of connection failure (problems.explain_connect_error's kinds).
NOT_READY_ACTIONS = {
    "refused": "start the server, or wait for it: nothing listens on that host and port yet",
    "timeout": "check the host, port and firewall: something takes the packets but no PostgreSQL answers",
    "unreachable": "check the network path to the host (Compose network, VPN, security group)",
    "unresolved": "fix the host name in DATABASE_URL / POSTGRES_HOST (the Compose service name, e.g. postgres)",
    "starting": "wait: the server is still starting up (retry, as scryer-runbook wait does)",
    "not-accepting": "a standby or a server in recovery: point the app at the primary, or enable hot_standby",
    "shutting-down": "the server is stopping: find out who stopped it, start it again",
    "password": "fix the password in DATABASE_URL / POSTGRES_PASSWORD, or reset it: ALTER ROLE ... PASSWORD",
    "no-password": "put the password in DATABASE_URL / POSTGRES_PASSWORD",
    "role-missing": "create the role (CREATE ROLE ... LOGIN PASSWORD ...) or fix the user name in the URL",
    "database-missing": "create the database (CREATE DATABASE ...) or fix the database name in the URL",
    "no-connect": "GRANT CONNECT ON DATABASE ... TO the app's role (see the permissions runbook)",
}


def pg_isready_path() -> str:
    """pg_isready from PATH, else ``pg_config --bindir``, else the server binaries this project would run."""
    found = shutil.which("pg_isready")
    if found:
        return found
    try:
        bindir = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True, check=True).stdout.strip()
        if (Path(bindir) / "pg_isready").exists():
            return str(Path(bindir) / "pg_isready")
    except (OSError, subprocess.CalledProcessError):
        pass
    return str(server.find_bindir() / "pg_isready")


def pg_isready(url: str, user: str | None = None, database: str | None = None, timeout: int = 3) -> Result:
    """`pg_isready -d URL` for ``url``'s host, port, user and database (the password is never passed or shown).

    pg_isready only asks the server whether it takes connections: the user and the database do not change its answer.
    """
    parsed = urls.parse(url)
    # URL.set(password=None) would keep the password: None means "unchanged" there
    target = parsed._replace(drivername="postgresql", password=None, username=user or parsed.username,
                             database=database or parsed.database).render_as_string(hide_password=False)
    args = ["-d", target, "-t", str(timeout)]
    done = subprocess.run([pg_isready_path(), *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          timeout=timeout + 10)
    return Result(["pg_isready", *args], done.returncode, urls.mask_text(done.stdout))


@dataclass
class Attempt:
    """One real login (read-only session) as the URL's user into its database."""

    where: str  # the URL, password masked
    error: str | None  # libpq's text, passwords masked
    problem: problems.Problem | None
    session: tuple | None = None  # (current_user, current_database()) when it worked

    @property
    def ok(self) -> bool:
        return self.error is None

    def show(self) -> Attempt:
        if self.ok:
            print(f"connect {self.where}\n  OK: logged in as {self.session[0]!r} to database {self.session[1]!r}")
        else:
            print(f"connect {self.where}\n  " + self.error.replace("\n", "\n  ")
                  + f"\n  => [{self.problem.kind}] {self.problem.summary}")
        return self


def attempt(url: str, connect_timeout: int = 5) -> Attempt:
    """Try to log in as the app would; name the problem when it fails (``problems.explain_connect_error``)."""
    where = urls.masked(urls.parse(url).set(drivername="postgresql"))
    try:
        with connect(url, connect_timeout=connect_timeout) as conn:
            session = conn.execute("SELECT current_user, current_database()").fetchone()
    except psycopg.OperationalError as error:
        return Attempt(where, urls.mask_text(str(error).strip()), problems.explain_connect_error(error, urls.parse(url)))
    return Attempt(where, None, None, session)


# permissions runbook --------------------------------------------------------------------------------------------
# What a role may do on the current database, its public schema and each table and sequence, read from the catalog
# (has_*_privilege answer for roles other than the one connected, so the owner's connection can check the app's).

from dataclasses import dataclass as _dataclass  # noqa: E402 - this runbook's section keeps its imports with it

TABLE_PRIVILEGES = ("SELECT", "INSERT", "UPDATE", "DELETE")  # what a DML-only app role needs on every table
SEQUENCE_PRIVILEGES = ("USAGE", "SELECT")  # nextval() for SERIAL/identity columns, currval()

_ROLE_ATTRIBUTES = [("rolsuper", "Superuser"), ("rolcreaterole", "Create role"), ("rolcreatedb", "Create DB"),
                    ("rolbypassrls", "Bypass RLS")]


def roles(conn, names: list[str]) -> list[tuple[str, str, list[str]]]:
    """psql's ``\\du`` for some roles: (name, attributes, member of)."""
    rows = conn.execute("""
        SELECT r.rolname, r.rolsuper, r.rolcreaterole, r.rolcreatedb, r.rolbypassrls, r.rolcanlogin,
               ARRAY(SELECT g.rolname FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid
                     WHERE m.member = r.oid ORDER BY 1)
        FROM pg_roles r WHERE r.rolname = ANY(%s) ORDER BY 1""", [list(names)]).fetchall()
    described = []
    for name, *flags, can_login, member_of in rows:
        attributes = [label for (_, label), flag in zip(_ROLE_ATTRIBUTES, flags, strict=True) if flag]
        if not can_login:
            attributes.append("Cannot login")
        described.append((name, ", ".join(attributes), member_of))
    return described


def migration_owner(conn) -> str:
    """The role Alembic migrates as: the owner of ``alembic_version`` (it created it), else the connected role."""
    row = conn.execute("SELECT tableowner FROM pg_tables WHERE schemaname = 'public' "
                       "AND tablename = 'alembic_version'").fetchone()
    return row[0] if row else conn.execute("SELECT current_user").fetchone()[0]


def access_privileges(conn, role: str, schema: str = "public") -> dict[str, bool]:
    """``role``'s rights on the current database (all that ``GRANT ALL ON DATABASE`` gives) and on ``schema``."""
    row = conn.execute("""
        SELECT has_database_privilege(%(role)s, current_database(), 'CONNECT'),
               has_database_privilege(%(role)s, current_database(), 'CREATE'),
               has_database_privilege(%(role)s, current_database(), 'TEMPORARY'),
               has_schema_privilege(%(role)s, %(schema)s, 'USAGE'),
               has_schema_privilege(%(role)s, %(schema)s, 'CREATE')""", {"role": role, "schema": schema}).fetchone()
    keys = ["database CONNECT", "database CREATE", "database TEMPORARY", f"schema {schema} USAGE",
            f"schema {schema} CREATE"]
    return dict(zip(keys, row, strict=True))


@_dataclass
class ObjectPrivileges:
    """One table or sequence: who owns it, and which of the privileges an app role needs it has or lacks."""

    name: str
    kind: str  # "table" or "sequence"
    owner: str
    held: list[str]
    missing: list[str]


def table_privileges(conn, role: str, schema: str = "public") -> list[ObjectPrivileges]:
    """Every table (views included) and sequence in ``schema``, with ``role``'s DML privileges on it."""
    rows = conn.execute("""
        SELECT c.relname, c.relkind = 'S', pg_get_userbyid(c.relowner), c.oid
        FROM pg_class c WHERE c.relnamespace = %s::regnamespace AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S')
        ORDER BY c.relkind = 'S', c.relname""", [schema]).fetchall()
    result = []
    for name, is_sequence, owner, oid in rows:
        wanted = SEQUENCE_PRIVILEGES if is_sequence else TABLE_PRIVILEGES
        check = "has_sequence_privilege" if is_sequence else "has_table_privilege"
        held = conn.execute(f"SELECT {', '.join(f'{check}(%s, %s, %s)' for _ in wanted)}",  # noqa: S608 - fixed names
                            [value for privilege in wanted for value in (role, oid, privilege)]).fetchone()
        result.append(ObjectPrivileges(name, "sequence" if is_sequence else "table", owner,
                                       [p for p, ok in zip(wanted, held, strict=True) if ok],
                                       [p for p, ok in zip(wanted, held, strict=True) if not ok]))
    return result


def missing_privileges(conn, role: str, schema: str = "public") -> list[str]:
    """What ``role`` lacks to read and write every table of ``schema``; empty when the app role is fully served."""
    missing = [] if access_privileges(conn, role, schema)[f"schema {schema} USAGE"] else [f"schema {schema}: USAGE"]
    return missing + [f"{item.kind} {item.name}: {', '.join(item.missing)}"
                      for item in table_privileges(conn, role, schema) if item.missing]


def default_privileges(conn, schema: str = "public") -> list[tuple[str, str, str, str]]:
    """``ALTER DEFAULT PRIVILEGES`` in force for ``schema``: (for objects created by, kind, grantee, privileges)."""
    return conn.execute("""
        SELECT pg_get_userbyid(d.defaclrole),
               CASE d.defaclobjtype WHEN 'r' THEN 'tables' WHEN 'S' THEN 'sequences' WHEN 'f' THEN 'functions'
                                    WHEN 'T' THEN 'types' WHEN 'n' THEN 'schemas' END,
               CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE pg_get_userbyid(a.grantee) END,
               string_agg(a.privilege_type, ', ' ORDER BY a.privilege_type)
        FROM pg_default_acl d CROSS JOIN LATERAL aclexplode(d.defaclacl) a
        WHERE d.defaclnamespace IN (0, %s::regnamespace)
        GROUP BY 1, 2, 3 ORDER BY 1, 2, 3""", [schema]).fetchall()


# autogenerate-drift runbook -------------------------------------------------------------------------------------


def read_only_url(url: str) -> str:
    """``url`` with ``default_transaction_read_only=on`` for every session: for `alembic check`/`current` against a
    real database, where the server itself then rejects any write (``cannot execute ... in a read-only
    transaction``). Never print it (it carries the password)."""
    from sqlalchemy.engine import make_url  # noqa: PLC0415

    parsed = make_url(urls.libpq(url))
    options = " ".join(filter(None, [parsed.query.get("options"), READ_ONLY_OPTIONS]))
    return parsed.update_query_dict({"options": options}).render_as_string(hide_password=False)


def project_metadata(project: Path = REPO_ROOT, module: str = "src.backend.app.models") -> MetaData:
    """The models' ``metadata`` of an Alembic project folder, imported from that folder the way its env.py does.

    For a project copy whose models were edited: this process's own ``src`` modules (if any) are set aside while
    the copy's are imported, and put back afterwards.
    """
    import importlib  # noqa: PLC0415
    import sys  # noqa: PLC0415

    top = module.split(".")[0]

    def ours() -> dict:
        return {name: mod for name, mod in sys.modules.items() if name == top or name.startswith(top + ".")}

    saved = ours()
    for name in saved:
        del sys.modules[name]
    sys.path.insert(0, str(project))
    try:
        importlib.invalidate_caches()
        return importlib.import_module(module).metadata
    finally:
        sys.path.remove(str(project))
        for name in ours():
            del sys.modules[name]
        sys.modules.update(saved)


def _default_text(value) -> str:
    if value is None:
        return "none"
    arg = getattr(value, "arg", value)  # a DefaultClause wraps the SQL text
    return str(getattr(arg, "text", arg))


def describe_drift(diffs: list) -> list[str]:
    """``drift()``/compare_metadata's operations as one plain line each (no object reprs, stable from run to run)."""
    lines = []
    for diff in diffs:
        for op in (diff if isinstance(diff, list) else [diff]):
            kind = op[0]
            if kind in ("add_column", "remove_column"):
                column = op[3]
                lines.append(f"{kind} {op[2]}.{column.name} {column.type}{'' if column.nullable else ' NOT NULL'}")
            elif kind.startswith("modify_"):
                old, new = op[5], op[6]
                if kind == "modify_default":
                    old, new = _default_text(old), _default_text(new)
                lines.append(f"{kind} {op[2]}.{op[3]}: {old} -> {new}")
            elif kind in ("add_table", "remove_table"):
                lines.append(f"{kind} {op[1].name}")
            elif kind in ("add_index", "remove_index", "add_constraint", "remove_constraint", "add_fk", "remove_fk"):
                item = op[1]
                columns = ", ".join(column.name for column in item.columns)
                what = type(item).__name__.replace("Constraint", "").upper() or "CONSTRAINT"
                lines.append(f"{kind} {what} {item.name or '(unnamed)'} on {item.table.name} ({columns})")
            else:
                import re  # noqa: PLC0415

                lines.append(re.sub(r" at 0x[0-9a-f]+", "", repr(op)))
    return lines
