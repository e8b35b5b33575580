"""The doctor's checks. Each reads facts over the read-only session and returns one `Check`.

Every query runs in its own read-only transaction (``diagnosis.connect``: the server refuses writes), so one
check that fails (a permission, a lock timeout) does not hide the others. Nothing here writes, anywhere.
"""

from __future__ import annotations

import contextlib
import importlib
import logging.config
import sys
import sysconfig
import warnings
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from unittest import mock

import psycopg
from alembic.autogenerate import compare_metadata
from alembic.runtime.environment import EnvironmentContext
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from scryer_runbook import diagnosis, problems, urls

OK, FAIL, WARN, SKIP = "ok", "FAIL", "WARN", "skip"

# alembic/env.py: pg_advisory_lock(zlib.crc32(b"scryer:alembic") & 0x7FFFFFFF), held while a process migrates.
SCRYER_LOCK_KEY = zlib.crc32(b"scryer:alembic") & 0x7FFFFFFF
IDLE_IN_TRANSACTION_SECONDS = 1  # an idle-in-transaction session holding a table lock this long blocks DDL
LONG_TRANSACTION_SECONDS = 60


@dataclass
class Check:
    """One line of the report: a status, what was found, the facts behind it, and where to read about it."""

    id: str
    status: str
    summary: str
    evidence: list[str] = field(default_factory=list)
    link: str | None = None  # a runbook slug ("already-exists") or a page of the guide ("run-migrations")

    def url(self, lang: str | None = None) -> str | None:
        if self.link is None:
            return None
        if self.link in problems.RUNBOOKS:
            return problems.runbook_url(self.link, lang)
        prefix = "" if (lang or problems.default_lang()) == "zh" else "/en"
        return f"{problems.DOCS_URL}{prefix}/{self.link}/"


class CannotRun(Exception):
    """The doctor cannot triage at all (bad URL, no alembic.ini, broken scripts): exit 2 with this reason."""


# The Alembic project ----------------------------------------------------------------------------------------------


@dataclass
class Project:
    ini: Path
    script: ScriptDirectory
    heads: tuple[str, ...]
    revisions: list[str]  # newest first
    metadata: object | None  # MetaData (or a sequence of them) to compare the live schema with; None = not checked
    metadata_note: str  # where the metadata came from, or why drift is not checked
    env_opts: dict  # what env.py passes to context.configure() (compare settings, include hooks, version table)

    @property
    def version_table(self) -> str:
        return self.env_opts.get("version_table") or "alembic_version"

    @property
    def version_schema(self) -> str | None:
        return self.env_opts.get("version_table_schema")


class _Configured(BaseException):  # noqa: N818 - BaseException: env.py's `except Exception` must not swallow it
    """Raised from context.configure() once env.py has shown us its options."""


@contextlib.contextmanager
def project_imports(paths: list[str]):
    """Import the project's own modules fresh, as a new `alembic` process would, then put everything back.

    A notebook kernel or a test may already hold another checkout's ``src.backend...`` in ``sys.modules``; the
    project's top-level names (found in its ``prepend_sys_path`` folders) are set aside while the block runs,
    unless what is loaded under that name is installed (``alembic`` itself, SQLAlchemy, ...).
    """
    installed = tuple({sysconfig.get_paths()[key] for key in ("stdlib", "platstdlib", "purelib", "platlib")})
    names = set()
    for folder in map(Path, paths):
        for entry in folder.iterdir() if folder.is_dir() else ():
            name = entry.stem if entry.suffix == ".py" else entry.name if entry.is_dir() else ""
            if name.isidentifier():
                names.add(name)

    def ours(module_name: str) -> bool:
        top = module_name.partition(".")[0]
        spec = getattr(sys.modules.get(top), "__spec__", None)
        if top not in names or spec is None or spec.origin in ("built-in", "frozen"):
            return False
        return spec.origin is None or not spec.origin.startswith(installed)  # None: a namespace package (`src`)

    saved_modules = {name: module for name, module in sys.modules.items() if ours(name)}
    for name in saved_modules:
        del sys.modules[name]
    saved_path = sys.path[:]
    sys.path[:0] = paths
    importlib.invalidate_caches()
    try:
        yield
    finally:
        for name in [name for name in sys.modules if ours(name)]:
            del sys.modules[name]
        sys.modules.update(saved_modules)
        sys.path[:] = saved_path


def load_project(ini: Path, metadata: str | None = None, config=None) -> Project:
    """Scripts, heads and env.py's ``target_metadata`` (or ``metadata="module:attr"``; ``"none"`` skips drift).

    ``config``: an Alembic Config already resolved for the project (``project.AlembicProject.config``)."""
    ini = Path(ini)
    if not ini.is_file():
        raise CannotRun(f"{ini}: no such file (pass -c path/to/alembic.ini)")
    try:
        config = config or diagnosis.alembic_config(ini)
        paths = config.get_prepend_sys_paths_list() or []
    except Exception as error:  # noqa: BLE001 - any unreadable ini is a reason not to run
        raise CannotRun(f"{ini}: not a usable Alembic config: {problems.first_line(error)}") from None
    with project_imports(paths):
        try:
            with warnings.catch_warnings(record=True) as warned:
                warnings.simplefilter("always")
                script = diagnosis.scripts(config)
                revisions = [revision.revision for revision in script.walk_revisions()]
                heads = tuple(script.get_heads())
        except Exception as error:  # noqa: BLE001 - a syntax error, a dangling down_revision, a missing folder
            # Alembic warns "Revision X referenced from ... is not present", then fails with a bare KeyError.
            reason = str(warned[-1].message) if warned else f"{type(error).__name__}: {problems.first_line(error)}"
            raise CannotRun(f"the migration scripts could not be loaded: {urls.mask_text(reason)}") from None
        env_opts, env_error = _env_options(config, script)
        if metadata == "none":
            target, note = None, "not compared (--metadata none)"
        elif metadata:
            target, note = _import_metadata(metadata), metadata
        elif env_error:
            target, note = None, f"not compared: env.py could not be read offline ({env_error}); " \
                                 "pass --metadata module:attr"
        elif env_opts.get("target_metadata") is None:
            target, note = None, "not compared: env.py sets no target_metadata (pass --metadata module:attr)"
        else:
            target, note = env_opts["target_metadata"], "env.py's target_metadata"
    return Project(ini, script, heads, revisions, target, note, env_opts)


def _env_options(config, script) -> tuple[dict, str | None]:
    """Run env.py as `alembic upgrade --sql` would, and stop at its context.configure(): no connection is made."""
    captured: dict = {}

    def configure(**kwargs) -> None:  # env.py's call: record it and stop before anything runs
        captured.update(kwargs)
        raise _Configured

    context = EnvironmentContext(config, script, as_sql=True)
    context.configure = configure  # the `alembic.context` proxy is installed from the instance's attributes
    try:
        with context, mock.patch.object(logging.config, "fileConfig"):  # a project's logging stays its own
            script.run_env()
    except _Configured:
        return captured, None
    except Exception as error:  # noqa: BLE001 - an env.py without an offline branch, an import that fails
        return {}, f"{type(error).__name__}: {problems.first_line(error)}"
    return {}, "env.py never called context.configure()"


def _import_metadata(spec: str):
    module_name, _, attribute = spec.partition(":")
    try:
        target = importlib.import_module(module_name)
        for part in (attribute or "metadata").split("."):
            target = getattr(target, part)
    except Exception as error:  # noqa: BLE001
        raise CannotRun(f"--metadata {spec}: {type(error).__name__}: {problems.first_line(error)}") from None
    return getattr(target, "metadata", target)  # a declarative Base is fine too


# The database -----------------------------------------------------------------------------------------------------


@dataclass
class Facts:
    """What the checks learn once and share."""

    schema: str = "public"
    version_rows: list[str] | None = None  # None: no version table
    tables: list[str] = field(default_factory=list)  # application tables (the version table excluded)
    at_head: bool = False
    superuser: bool = False


def read(conn: psycopg.Connection, query: str, params=None) -> list[tuple]:
    with conn.transaction():
        return conn.execute(query, params).fetchall()


def check_connection(url: str, connect_timeout: int) -> tuple[psycopg.Connection | None, Check]:
    try:
        conn = diagnosis.connect(url, connect_timeout=connect_timeout)
    except psycopg.OperationalError as error:
        problem = problems.explain_connect_error(error, urls.parse(url))
        return None, Check("connection", FAIL, problem.summary, [f"{problem.kind}: {problems.first_line(error)}"],
                           problem.runbook)
    except psycopg.Error as error:  # e.g. an unknown option in the URL's query string
        raise CannotRun(f"could not connect: {problems.first_line(error)}") from None
    # A statement that waits for a lock gives up instead of hanging the doctor.
    with conn.transaction():
        conn.execute("SET lock_timeout = '1s'")
        conn.execute("SET statement_timeout = '10s'")
    user, database = read(conn, "SELECT current_user, current_database()")[0]
    return conn, Check("connection", OK, f"connected to {database} as {user}")


def check_server(conn: psycopg.Connection, facts: Facts) -> Check:
    version, in_recovery, facts.superuser, schema = read(conn, """
        SELECT current_setting('server_version'), pg_is_in_recovery(),
               (SELECT rolsuper FROM pg_roles WHERE rolname = current_user), current_schema()""")[0]
    facts.schema = schema or "public"
    version = f"PostgreSQL {version.split()[0]}"
    if in_recovery:
        return Check("server", FAIL, f"{version} is a read-only standby (in recovery): migrations can only run on "
                     "the primary", ["pg_is_in_recovery() = true"], "not-ready")
    # Where a read-only default comes from: ALTER DATABASE/ROLE ... SET, or the server's config files (readable
    # by superusers only). Our own session sets it on, so SHOW cannot tell.
    sources = [f"ALTER {'ROLE' if role else 'DATABASE'} ... SET {setting}" for role, setting in read(conn, """
        SELECT s.setrole <> 0, c FROM pg_db_role_setting s, unnest(s.setconfig) c
        WHERE s.setdatabase IN (0, (SELECT oid FROM pg_database WHERE datname = current_database()))
          AND s.setrole IN (0, (SELECT oid FROM pg_roles WHERE rolname = current_user))
          AND lower(c) ~ '^default_transaction_read_only=(on|true|yes|1)$'""")]
    if read(conn, "SELECT has_function_privilege('pg_show_all_file_settings()', 'EXECUTE')")[0][0]:
        sources += [f"{Path(path).name}: default_transaction_read_only = {setting}" for path, setting in read(conn, """
            SELECT sourcefile, setting FROM pg_file_settings
            WHERE name = 'default_transaction_read_only' AND applied
              AND lower(setting) IN ('on', 'true', 'yes', '1')""")]
    if sources:
        return Check("server", FAIL, f"{version}: transactions are read-only by default here: `alembic upgrade` "
                     "fails with \"cannot execute ... in a read-only transaction\"", sources, "not-ready")
    return Check("server", OK, f"{version}, primary, read-write")


def check_scripts(project: Project) -> Check:
    heads = project.heads
    if len(heads) > 1:
        return Check("scripts", FAIL, f"{len(heads)} heads in the scripts: `alembic upgrade head` fails with "
                     "\"Multiple head revisions are present\"", [f"heads: {', '.join(sorted(heads))}"],
                     "multiple-heads")
    if not heads:
        return Check("scripts", OK, "no revisions yet")
    return Check("scripts", OK, f"1 head: {heads[0]} ({len(project.revisions)} revisions)")


def _version_table_name(conn: psycopg.Connection, project: Project, facts: Facts) -> str:
    schema = project.version_schema or facts.schema
    return read(conn, "SELECT quote_ident(%s) || '.' || quote_ident(%s)", [schema, project.version_table])[0][0]


def model_tables(metadata, schema: str) -> set[str]:
    """The names of the models' tables in ``schema`` (tables with no schema of their own land there)."""
    collections = metadata if isinstance(metadata, (list, tuple)) else [metadata]
    return {table.name for each in collections for table in each.tables.values() if table.schema in (None, schema)}


def check_version_table(conn: psycopg.Connection, project: Project, facts: Facts) -> Check:
    qualified = _version_table_name(conn, project, facts)
    exists = read(conn, "SELECT to_regclass(%s) IS NOT NULL", [qualified])[0][0]
    facts.tables = [row[0] for row in read(conn, """
        SELECT c.relname FROM pg_class c
        WHERE c.relnamespace = to_regnamespace(%s) AND c.relkind IN ('r', 'p') AND c.relname <> %s ORDER BY 1""",
        [project.version_schema or facts.schema, project.version_table])]
    facts.version_rows = [row[0] for row in read(conn, f"SELECT version_num FROM {qualified} ORDER BY 1")] \
        if exists else None
    rows, tables = facts.version_rows, facts.tables
    if not rows:
        # Without the models every table may collide; with them, only the models' tables do (a shared schema).
        colliding = [table for table in tables if table in model_tables(project.metadata, facts.schema)] \
            if project.metadata is not None else tables
        if not colliding:
            what = "no version table yet" if rows is None else "empty"
            others = f"; {len(tables)} tables of something else" if tables else ""
            return Check("version-table", OK, f"{project.version_table}: {what} (nothing migrated here yet{others})")
        facts.tables = colliding
        return Check("version-table", FAIL, f"{len(colliding)} application tables exist but "
                     f"{project.version_table} {'does not' if rows is None else 'has no row'}: `alembic upgrade "
                     "head` fails with \"relation ... already exists\"", [f"tables: {', '.join(colliding)}"],
                     "already-exists")
    unknown = [row for row in rows if row not in project.revisions]
    if unknown:
        return Check("version-table", FAIL, f"the database is at a revision these scripts do not have: "
                     f"\"Can't locate revision identified by '{unknown[0]}'\" (a branch switched, a revision "
                     "file deleted, or the database migrated by newer code)",
                     [f"{project.version_table}: {', '.join(rows)}",
                      f"script heads: {', '.join(sorted(project.heads)) or '(none)'}"], "troubleshooting")
    ancestors = {row: {r.revision for r in project.script.iterate_revisions(row, "base")} - {row} for row in rows}
    overlap = [(row, other) for row in rows for other in rows if other in ancestors[row]]
    if overlap:
        row, other = overlap[0]
        return Check("version-table", FAIL, f"{len(rows)} rows on one line of history: Alembic fails with "
                     f"\"Requested revision {row} overlaps with other requested revisions {other}\"",
                     [f"{project.version_table}: {', '.join(rows)}", f"{other} is an ancestor of {row}"],
                     "multiple-heads")
    if len(rows) > 1:
        return Check("version-table", OK, f"{len(rows)} rows, one per branch: {', '.join(rows)}")
    return Check("version-table", OK, f"{project.version_table}: {rows[0]}")


def check_revision(project: Project, facts: Facts, version: Check) -> Check:
    rows = facts.version_rows
    if rows is None or not rows:
        if version.status == FAIL:
            return Check("revision", SKIP, "unknown: no version recorded (see version-table)")
        pending = list(reversed(project.revisions))
        return Check("revision", FAIL, f"{'nothing migrated yet' if facts.tables else 'empty database'}: "
                     f"{len(pending)} revisions pending, `alembic upgrade head` has never run here",
                     [f"pending: {', '.join(pending)}"], "run-migrations")
    if any(row not in project.revisions for row in rows):
        return Check("revision", SKIP, "unknown: the recorded revision is not in the scripts (see version-table)")
    try:
        pending = diagnosis.pending_revisions(project.script, rows)
    except Exception as error:  # noqa: BLE001 - overlapping rows: Alembic cannot resolve them either
        return Check("revision", SKIP,
                     f"unknown: Alembic cannot resolve the recorded rows ({problems.first_line(error)})")
    if len(project.heads) > 1:
        return Check("revision", SKIP, "not compared with head: the scripts have several heads (see scripts)",
                     [f"not applied: {', '.join(pending) or '(none)'}"])
    if pending:
        return Check("revision", FAIL, f"the database is behind head by {len(pending)} revision"
                     f"{'s' if len(pending) > 1 else ''}: `alembic upgrade head` has not run since they were "
                     "added", [f"current: {', '.join(rows)}", f"pending: {', '.join(pending)}"], "run-migrations")
    facts.at_head = True
    return Check("revision", OK, f"at head {', '.join(rows)}")


def check_version_width(conn: psycopg.Connection, project: Project, facts: Facts) -> Check:
    qualified = _version_table_name(conn, project, facts)
    found = read(conn, """SELECT atttypmod - 4 FROM pg_attribute
                          WHERE attrelid = to_regclass(%s) AND attname = 'version_num' AND atttypmod > 0""",
                 [qualified])
    width = found[0][0] if found else (None if facts.version_rows is not None else 32)  # Alembic creates 32
    if width is None:
        return Check("version-width", OK, "version_num has no length limit")
    too_long = [revision for revision in project.revisions if len(revision) > width]
    if too_long:
        return Check("version-width", FAIL, f"{len(too_long)} revision id{'s' if len(too_long) > 1 else ''} longer "
                     f"than {project.version_table}.version_num (varchar({width})): `alembic upgrade` fails with "
                     "\"value too long for type character varying\"",
                     [f"{revision} ({len(revision)} characters)" for revision in too_long], "run-migrations")
    return Check("version-width", OK, f"every revision id fits version_num (varchar({width}))")


def drift(url: str, project: Project) -> list:
    """`alembic check`'s comparison, with env.py's own compare settings and filters (compare_metadata)."""
    opts = {key: project.env_opts[key] for key in ("include_name", "include_object", "include_schemas",
                                                    "compare_type", "compare_server_default", "version_table",
                                                    "version_table_schema") if project.env_opts.get(key) is not None}
    engine = diagnosis.engine(url)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={**opts, "target_metadata": project.metadata})
            return compare_metadata(context, project.metadata)
    finally:
        engine.dispose()


def check_drift(url: str, project: Project, facts: Facts, version: Check) -> Check:
    if project.metadata is None:
        return Check("drift", SKIP, project.metadata_note)
    if not facts.at_head:
        if version.link == "already-exists":  # the question that decides the fix: is the schema complete?
            diffs = diagnosis.describe_drift(drift(url, project))
            version.evidence.append(
                "the live schema matches the models, so most likely head: `alembic stamp head`, then `alembic check`"
                if not diffs else f"the live schema differs from the models ({'; '.join(diffs)}): a partial schema, "
                "do not `stamp head`; stamp the revision it matches")
        return Check("drift", SKIP, "not compared: the database is not at head (see above)")
    diffs = diagnosis.describe_drift(drift(url, project))
    if diffs:
        return Check("drift", FAIL, f"the live schema differs from the models in {len(diffs)} way"
                     f"{'s' if len(diffs) > 1 else ''}: `alembic check` fails with \"New upgrade operations "
                     "detected\"", diffs, "autogenerate-drift")
    return Check("drift", OK, f"the live schema matches the models ({project.metadata_note})")


def check_migration_role(conn: psycopg.Connection, project: Project, facts: Facts) -> Check:
    user = read(conn, "SELECT current_user")[0][0]
    if facts.superuser:
        return Check("migration-role", OK, f"{user} is a superuser")
    schema = project.version_schema or facts.schema
    no_create = not read(conn, "SELECT has_schema_privilege(%s, 'CREATE')", [schema])[0][0]
    not_owned = read(conn, """
        SELECT CASE c.relkind WHEN 'S' THEN 'sequence' WHEN 'v' THEN 'view' WHEN 'm' THEN 'materialized view'
                              ELSE 'table' END || ' ' || c.relname, pg_get_userbyid(c.relowner)
        FROM pg_class c
        WHERE c.relnamespace = to_regnamespace(%s) AND c.relkind IN ('r', 'p', 'v', 'm', 'S')
          AND NOT pg_has_role(current_user, c.relowner, 'USAGE') ORDER BY c.relname""", [schema])
    if no_create or not_owned:
        reasons = ([f"no CREATE on schema {schema} (\"permission denied for schema {schema}\")"] if no_create else []) \
            + ([f"does not own {len(not_owned)} object{'s' if len(not_owned) > 1 else ''} it must alter "
                "(\"must be owner of table ...\")"] if not_owned else [])
        return Check("migration-role", FAIL, f"{user} cannot run migrations here: {'; '.join(reasons)}",
                     [f"{what} is owned by {owner}" for what, owner in not_owned], "permissions")
    return Check("migration-role", OK, f"{user} owns every object in {schema} and may create there")


def check_app_role(conn: psycopg.Connection, project: Project, facts: Facts, role: str | None) -> Check:
    if not role:
        return Check("app-role", SKIP, "not checked: pass --app-role NAME (the role the application connects as)")
    found = read(conn, "SELECT rolcanlogin, rolsuper FROM pg_roles WHERE rolname = %s", [role])
    if not found:
        return Check("app-role", FAIL, f"role {role} does not exist", [], "permissions")
    can_login, superuser = found[0]
    if superuser:
        return Check("app-role", OK if can_login else FAIL, f"{role} is a superuser"
                     + ("" if can_login else " without LOGIN"), [], None if can_login else "permissions")
    schema = project.version_schema or facts.schema
    # The permissions runbook's own reading of the catalog (diagnosis.table_privileges), so they never disagree.
    with conn.transaction():
        access = diagnosis.access_privileges(conn, role, schema)
        objects = diagnosis.table_privileges(conn, role, schema)
        defaults = diagnosis.default_privileges(conn, schema)
    identity = {row[0] for row in read(conn, """
        SELECT c.relname FROM pg_class c JOIN pg_depend d ON d.classid = 'pg_class'::regclass AND d.objid = c.oid
        WHERE c.relnamespace = to_regnamespace(%s) AND c.relkind = 'S' AND d.deptype = 'i'""", [schema])}
    missing = [] if can_login else ["no LOGIN (\"role ... is not permitted to log in\")"]
    missing += [f"no {what.split()[-1]} on {what.rsplit(' ', 1)[0]}" for what in
                ("database CONNECT", f"schema {schema} USAGE") if not access[what]]
    # The app needs DML on its tables, not on the version table; identity sequences need no grant of their own.
    missing += [f"no {', '.join(item.missing)} on {item.kind} {item.name}" for item in objects
                if item.missing and item.name != project.version_table and item.name not in identity]
    if missing:
        return Check("app-role", FAIL, f"{role} cannot use the application's tables: queries fail with "
                     "\"permission denied for ...\"", missing, "permissions")
    # Default privileges: what the *next* migration creates is granted only if its owner has them set up.
    owners = sorted({item.owner for item in objects if item.kind == "table" and item.name != project.version_table}
                    or {read(conn, "SELECT current_user")[0][0]})
    needed = set(diagnosis.TABLE_PRIVILEGES)
    granted = {owner for owner, kind, grantee, privileges in defaults
               if kind == "tables" and grantee == role and needed <= set(privileges.split(", "))}
    without_defaults = [owner for owner in owners if owner not in granted]
    if without_defaults:
        return Check("app-role", WARN, f"{role} can use today's tables, but not the ones the next migration creates",
                     [f"no ALTER DEFAULT PRIVILEGES FOR ROLE {owner} IN SCHEMA {schema} GRANT ... ON TABLES TO {role}"
                      for owner in without_defaults], "permissions")
    return Check("app-role", OK, f"{role} may read and write every table in {schema}, now and after migrations")


def check_locks(conn: psycopg.Connection, project: Project, facts: Facts) -> Check:
    """Sessions that would make a migration's ALTER TABLE wait (and then fail on lock_timeout)."""
    rows = read(conn, """
        SELECT l.pid, a.usename, a.application_name, a.state, l.granted, l.mode, c.relname,
               floor(extract(epoch FROM now() - a.state_change))::int,
               floor(extract(epoch FROM now() - a.xact_start))::int, pg_blocking_pids(l.pid)
        FROM pg_locks l JOIN pg_class c ON c.oid = l.relation LEFT JOIN pg_stat_activity a ON a.pid = l.pid
        WHERE l.locktype = 'relation' AND l.pid <> pg_backend_pid()
          AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
          AND c.relnamespace = to_regnamespace(%s) AND c.relkind IN ('r', 'p')
        ORDER BY l.granted, l.pid, c.relname""", [project.version_schema or facts.schema])
    blocking, long_running = [], []
    for pid, user, app, state, granted, mode, table, idle_for, xact_age, blockers in rows:
        who = f"pid {pid} ({user or '?'}{', ' + app if app else ''})"
        if not granted:
            blocking.append(f"{who} waits for {mode} on {table}, blocked by pid {', '.join(map(str, blockers))}")
        elif state and state.startswith("idle in transaction") and (idle_for or 0) >= IDLE_IN_TRANSACTION_SECONDS:
            blocking.append(f"{who} is {state} for {idle_for} s holding {mode} on {table}")
        elif (xact_age or 0) >= LONG_TRANSACTION_SECONDS:
            long_running.append(f"{who} in a transaction for {xact_age} s holding {mode} on {table}")
    if blocking:
        return Check("locks", FAIL, "sessions hold or wait for locks on application tables: a migration's DDL "
                     "waits, then fails with \"canceling statement due to lock timeout\"", blocking + long_running,
                     "run-migrations")
    if long_running:
        return Check("locks", WARN, "long transactions hold locks on application tables: DDL would wait",
                     long_running, "run-migrations")
    return Check("locks", OK, "no session blocks DDL on the application tables")


def check_migration_lock(conn: psycopg.Connection, key: int | None) -> Check:
    if key is None:
        return Check("migration-lock", SKIP, "not checked (--lock-key none)")
    unsigned = key & 0xFFFFFFFFFFFFFFFF  # a bigint key shows in pg_locks as two unsigned 32-bit halves
    rows = read(conn, """
        SELECT l.pid, l.granted, a.usename, a.application_name, a.state,
               floor(extract(epoch FROM now() - coalesce(a.xact_start, a.backend_start)))::int
        FROM pg_locks l LEFT JOIN pg_stat_activity a ON a.pid = l.pid
        WHERE l.locktype = 'advisory' AND l.pid <> pg_backend_pid()
          AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
          AND l.classid = %s::bigint::oid AND l.objid = %s::bigint::oid AND l.objsubid = 1
        ORDER BY NOT l.granted, l.pid""", [unsigned >> 32, unsigned & 0xFFFFFFFF])
    holders = [f"pid {pid} ({user or '?'}{', ' + app if app else ''}) holds it, {state or 'state hidden'}"
               + (f", for {age} s" if age is not None else "") for pid, granted, user, app, state, age in rows
               if granted]
    waiting = sum(1 for row in rows if not row[1])
    if holders:
        return Check("migration-lock", FAIL, f"the migration lock ({key}) is held: another `alembic upgrade` is "
                     "running or stuck; new ones wait for it, then fail", holders
                     + ([f"{waiting} more waiting"] if waiting else []), "docker")
    return Check("migration-lock", OK, f"the migration lock ({key}) is free")
