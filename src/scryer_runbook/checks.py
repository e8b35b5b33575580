"""The doctor's checks: one registry, one shape. Each is ``@check("id") def check_x(ctx) -> Check``.

Checks run in the order they are registered here, which is the report's order. A check reads shared facts from
its ``Context`` (version rows, application tables, at head or not, ...), which computes each fact once, on
first use; a check never writes a fact, and never changes another check's result. Every query runs in its own
read-only transaction (``diagnosis.connect``: the server refuses writes) with a lock and a statement timeout,
so one check that fails (a permission, a lock) does not hide the others. Nothing here writes, anywhere.

Each result carries a finding key, ``"<check id>"`` or ``"<check id>:<kind>"``; its link is the runbook the
catalogue (``catalogue.RUNBOOKS[...].findings``) gives that key, else the guide page the check names, else the
runbook of the bare check id. To add a check, see CONTRIBUTING.md.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

from scryer_runbook import catalogue, diagnosis, problems, urls
from scryer_runbook.diagnosis.project import (  # noqa: F401 - checks.load_project
    CannotRun,
    Project,
    load_project,
)
from scryer_runbook.i18n import _, ngettext

OK, FAIL, WARN, SKIP = "ok", "FAIL", "WARN", "skip"

IDLE_IN_TRANSACTION_SECONDS = 1  # an idle-in-transaction session holding a table lock this long blocks DDL
LONG_TRANSACTION_SECONDS = 60
BLOCKING_MODES = (
    "AccessExclusiveLock",
    "ExclusiveLock",
)  # held: even reads of the table wait (DDL, REFRESH, LOCK)


@dataclass
class Check:
    """One line of the report: a status, what was found, the facts behind it, and where to read about it."""

    status: str
    summary: str
    evidence: list[str] = field(default_factory=list)
    kind: str | None = None  # which finding of this check: the key is "<id>:<kind>"
    page: str | None = (
        None  # a page of the guide (or a runbook) to link when the catalogue has no runbook for it
    )
    blind: bool = False  # could not check something that decides health (the report is then not "healthy")
    id: str = ""  # set by the registry

    @property
    def finding(self) -> str:
        return f"{self.id}:{self.kind}" if self.kind else self.id

    @property
    def link(self) -> str | None:
        """The runbook slug or guide page for a FAIL or WARN: the catalogue's, else the page named, else the
        id's."""
        if self.status not in (FAIL, WARN):
            return None
        return catalogue.runbook_for(self.finding) or self.page or catalogue.runbook_for(self.id)

    def url(self, lang: str | None = None) -> str | None:
        if self.link is None:
            return None
        if self.link in catalogue.SLUGS:
            return problems.runbook_url(self.link, lang)
        prefix = "" if (lang or problems.default_lang()) == "zh" else "/en"
        return f"{problems.DOCS_URL}{prefix}/{self.link}/"


@dataclass(frozen=True)
class Registered:
    id: str
    function: Callable[[Context], Check]
    needs_database: bool


REGISTRY: dict[str, Registered] = {}


def check(check_id: str, needs_database: bool = True):
    """Register ``function(ctx) -> Check`` under ``check_id``, after the checks registered before it."""

    def register(function):
        assert check_id not in REGISTRY, check_id
        REGISTRY[check_id] = Registered(check_id, function, needs_database)
        return function

    return register


def fact(method):
    """A shared fact, computed once on first use. A failure (a lock timeout) is kept and raised again to every
    check that needs the fact: each of them then says it could not check, none of them says ok."""
    name = method.__name__

    @functools.wraps(method)
    def getter(self):
        if name not in self._facts:
            try:
                self._facts[name] = (True, method(self))
            except Exception as error:  # noqa: BLE001 - re-raised below, to each check that asks
                self._facts[name] = (False, error)
        succeeded, value = self._facts[name]
        if not succeeded:
            raise value
        return value

    return property(getter)


class Context:
    """What the checks share: the session, the project, the options, and the facts read from the database."""

    def __init__(
        self,
        url: str,
        project: Project,
        conn: psycopg.Connection | None,
        connect_error: Exception | None = None,
        app_role: str | None = None,
        lock_key: int | str | None = None,
    ):
        self.url, self.project, self.conn, self.connect_error = url, project, conn, connect_error
        self.app_role = app_role
        self.lock_key = lock_key  # an int, "none" (--lock-key none) or None (the project's, if it names one)
        self.timeouts: list[str] = []  # checks that gave up waiting for a lock (recorded by the runner)
        self._facts: dict = {}

    @classmethod
    def open(cls, url: str, project: Project, connect_timeout: int = 3, **options) -> Context:
        try:
            conn = diagnosis.connect(url, connect_timeout=connect_timeout)
        except psycopg.OperationalError as error:
            return cls(url, project, None, error, **options)
        except psycopg.Error as error:  # e.g. an unknown option in the URL's query string
            raise CannotRun(
                _("could not connect: {error}").format(error=problems.first_line(error))
            ) from None
        return cls(url, project, conn, **options)

    def read(self, query: str, params=None) -> list[tuple]:
        with self.conn.transaction():
            return self.conn.execute(query, params).fetchall()

    def ask(self, question: Callable, *args):
        """A ``diagnosis`` function on the doctor's session, in its own read-only transaction."""
        with self.conn.transaction():
            return question(self.conn, *args)

    @fact
    def server(self) -> tuple[str, bool, bool, str]:
        """(server version, in recovery, superuser, current schema)."""
        version, in_recovery, superuser, schema = self.read("""
            SELECT current_setting('server_version'), pg_is_in_recovery(),
                   (SELECT rolsuper FROM pg_roles WHERE rolname = current_user), current_schema()""")[0]
        return version, in_recovery, superuser, schema or "public"

    @property
    def app_schema(self) -> str:
        """The schema the application's tables live in: the session's current schema."""
        return self.server[3]

    @property
    def version_schema(self) -> str:
        """The schema the version table lives in (env.py's version_table_schema, else the session's)."""
        return self.project.version_schema or self.app_schema

    @property
    def schemas(self) -> list[str]:
        return sorted({self.app_schema, self.version_schema})

    @fact
    def version_rows(self) -> list[str] | None:
        return self.ask(diagnosis.version_rows, self.project.version_table, self.version_schema)

    @fact
    def app_tables(self) -> list[str]:
        """Tables in the application's schema, the version table excluded."""
        version_table = self.project.version_table if self.version_schema == self.app_schema else ""
        return self.ask(diagnosis.app_tables, version_table, self.app_schema)

    @fact
    def colliding_tables(self) -> list[str]:
        """With no version recorded: the tables `alembic upgrade head` would try to create again.

        Without the models every table may collide; with them, only the models' tables do (a shared schema).
        """
        if self.version_rows:
            return []
        if self.project.metadata is None:
            return self.app_tables
        return [
            table
            for table in self.app_tables
            if table in model_tables(self.project.metadata, self.app_schema)
        ]

    @fact
    def pending(self) -> list[str] | None:
        """Revisions not applied yet, oldest first; None when Alembic cannot tell (no row, unknown or
        overlapping)."""
        rows = self.version_rows
        if not rows or any(row not in self.project.revisions for row in rows):
            return None
        try:
            return diagnosis.pending_revisions(self.project.script, rows)
        except Exception:  # noqa: BLE001 - overlapping rows: Alembic cannot resolve them either
            return None

    @property
    def at_head(self) -> bool:
        return self.pending == [] and len(self.project.heads) == 1

    @fact
    def drift(self) -> list[str]:
        """`alembic check`'s differences between the live schema and the models, one line each."""
        return diagnosis.describe_drift(diagnosis.drift(self.url, self.project))


def model_tables(metadata, schema: str) -> set[str]:
    """The names of the models' tables in ``schema`` (tables with no schema of their own land there)."""
    collections = metadata if isinstance(metadata, (list, tuple)) else [metadata]
    return {
        table.name for each in collections for table in each.tables.values() if table.schema in (None, schema)
    }


def _plural(count: int, singular: str, plural: str, **values) -> str:
    return ngettext(singular, plural, count).format(count=count, **values)


# The checks, in report order --------------------------------------------------------------------------------


@check("connection", needs_database=False)
def check_connection(ctx: Context) -> Check:
    """Nothing else can be read without a session; a failed connection is named (refused, starting up, wrong
    password, missing database...) because each has a different fix."""
    if ctx.conn is None:
        problem = problems.explain_connect_error(ctx.connect_error, urls.parse(ctx.url))
        return Check(
            FAIL,
            problem.summary,
            [f"{problem.kind}: {problems.first_line(ctx.connect_error)}"],
            kind=problem.kind,
            page=problem.runbook,
        )
    user, database = ctx.read("SELECT current_user, current_database()")[0]
    return Check(OK, _("connected to {database} as {user}").format(database=database, user=user))


@check("server")
def check_server(ctx: Context) -> Check:
    """A standby, or a database whose transactions are read-only by default, accepts the connection and then
    fails every migration: say so before anyone reads Alembic's error."""
    version, in_recovery, _superuser, _schema = ctx.server
    version = f"PostgreSQL {version.split()[0]}"
    if in_recovery:
        return Check(
            FAIL,
            _(
                "{version} is a read-only standby (in recovery): migrations can only run on the primary"
            ).format(version=version),
            ["pg_is_in_recovery() = true"],
            kind="standby",
        )
    # Where a read-only default comes from: ALTER DATABASE/ROLE ... SET, or the server's config files
    # (readable
    # by superusers only). Our own session sets it on, so SHOW cannot tell.
    sources = [
        f"ALTER {'ROLE' if role else 'DATABASE'} ... SET {setting}"
        for role, setting in ctx.read("""
        SELECT s.setrole <> 0, c FROM pg_db_role_setting s, unnest(s.setconfig) c
        WHERE s.setdatabase IN (0, (SELECT oid FROM pg_database WHERE datname = current_database()))
          AND s.setrole IN (0, (SELECT oid FROM pg_roles WHERE rolname = current_user))
          AND lower(c) ~ '^default_transaction_read_only=(on|true|yes|1)$'""")
    ]
    if ctx.read("SELECT has_function_privilege('pg_show_all_file_settings()', 'EXECUTE')")[0][0]:
        sources += [
            f"{Path(path).name}: default_transaction_read_only = {setting}"
            for path, setting in ctx.read("""
            SELECT sourcefile, setting FROM pg_file_settings
            WHERE name = 'default_transaction_read_only' AND applied
              AND lower(setting) IN ('on', 'true', 'yes', '1')""")
        ]
    if sources:
        return Check(
            FAIL,
            _(
                "{version}: transactions are read-only by default here: `{upgrade}` fails with "
                '"cannot execute ... in a read-only transaction"'
            ).format(version=version, upgrade=ctx.project.command("upgrade")),
            sources,
            kind="read-only",
        )
    return Check(OK, _("{version}, primary, read-write").format(version=version))


@check("scripts", needs_database=False)
def check_scripts(ctx: Context) -> Check:
    """Several heads make `alembic upgrade head` refuse to run, whatever the database holds."""
    project = ctx.project
    heads = project.heads
    if len(heads) > 1:
        return Check(
            FAIL,
            _(
                '{count} heads in the scripts: `{upgrade}` fails with "Multiple head revisions are present"'
            ).format(count=len(heads), upgrade=project.command("upgrade", "head")),
            [_("heads: {heads}").format(heads=", ".join(sorted(heads)))],
        )
    if not heads:
        return Check(OK, _("no revisions yet"))
    return Check(
        OK, _("1 head: {head} ({count} revisions)").format(head=heads[0], count=len(project.revisions))
    )


@check("version-table")
def check_version_table(ctx: Context) -> Check:
    """What the version table records decides every Alembic command: tables without a version ("already
    exists"), a revision the scripts lack ("Can't locate revision"), or rows on one line of history
    ("overlaps")."""
    project = ctx.project
    if not project.version_table_known:
        return Check(
            SKIP,
            _(
                "not checked: env.py could not be read offline ({error}) and does not name its "
                "version table literally"
            ).format(error=project.env_error),
            blind=True,
        )
    rows, colliding = ctx.version_rows, ctx.colliding_tables
    table = project.version_table
    if not rows:
        if not colliding:
            what = _("no version table yet") if rows is None else _("empty")
            others = (
                _("; {count} tables of something else").format(count=len(ctx.app_tables))
                if ctx.app_tables
                else ""
            )
            return Check(
                OK,
                _("{table}: {what} (nothing migrated here yet{others})").format(
                    table=table, what=what, others=others
                ),
            )
        summary = (
            _(
                '{count} application tables exist but {table} does not: `{upgrade}` fails with "relation ... '
                'already exists"'
            )
            if rows is None
            else _(
                '{count} application tables exist but {table} has no row: `{upgrade}` fails with "relation '
                '... already exists"'
            )
        )
        return Check(
            FAIL,
            summary.format(count=len(colliding), table=table, upgrade=project.command("upgrade", "head")),
            [_("tables: {tables}").format(tables=", ".join(colliding)), *_no_version_advice(ctx)],
            kind="no-version",
        )
    unknown = [row for row in rows if row not in project.revisions]
    if unknown:
        return Check(
            FAIL,
            _(
                "the database is at a revision these scripts do not have: \"Can't locate revision "
                "identified by '{revision}'\" (a branch switched, a revision file deleted, or the "
                "database migrated by newer code)"
            ).format(revision=unknown[0]),
            [
                f"{table}: {', '.join(rows)}",
                _("script heads: {heads}").format(heads=", ".join(sorted(project.heads)) or "-"),
            ],
            kind="unknown-revision",
            page="troubleshooting",
        )
    ancestors = {
        row: {r.revision for r in project.script.iterate_revisions(row, "base")} - {row} for row in rows
    }
    overlap = [(row, other) for row in rows for other in rows if other in ancestors[row]]
    if overlap:
        row, other = overlap[0]
        return Check(
            FAIL,
            _(
                '{count} rows on one line of history: Alembic fails with "Requested revision {row} '
                'overlaps with other requested revisions {other}"'
            ).format(count=len(rows), row=row, other=other),
            [
                f"{table}: {', '.join(rows)}",
                _("{other} is an ancestor of {row}").format(other=other, row=row),
            ],
            kind="overlap",
        )
    if len(rows) > 1:
        return Check(
            OK, _("{count} rows, one per branch: {rows}").format(count=len(rows), rows=", ".join(rows))
        )
    return Check(OK, f"{table}: {rows[0]}")


def _no_version_advice(ctx: Context) -> list[str]:
    """Tables but no version: never `stamp head` blind. How to find the revision the schema matches, and which
    revisions a stamp would skip without any schema comparison noticing (they change data)."""
    project = ctx.project
    lines = []
    if project.metadata is not None:
        try:
            diffs = ctx.drift
            lines.append(
                _("the live schema matches the models at head; that does not prove every revision ran")
                if not diffs
                else _("the live schema differs from the models ({diffs}): a partial schema").format(
                    diffs="; ".join(diffs)
                )
            )
        except Exception as error:  # noqa: BLE001 - the advice below stands without it
            lines.append(
                _("the live schema could not be compared with the models: {error}").format(
                    error=problems.first_line(getattr(error, "orig", None) or error)
                )
            )
    lines.append(
        _(
            "do not `{stamp} head`: find the revision the schema matches (the already-exists runbook "
            "upgrades a sandbox one revision at a time and compares), `{stamp} <that revision>`, then "
            "`{upgrade} head`"
        ).format(stamp=project.command("stamp"), upgrade=project.command("upgrade"))
    )
    data = diagnosis.data_changing_revisions(project.script)
    if data:
        lines.append(
            _(
                "revisions that change data, skipped for good by a stamp over them (run their data steps "
                "by hand, or stamp below them): {revisions}"
            ).format(revisions="; ".join(f"{revision}: {', '.join(calls)}" for revision, calls in data))
        )
    else:
        lines.append(
            _(
                "no revision changes data (op.execute, op.bulk_insert, connection.execute): a stamp skips "
                "schema steps only"
            )
        )
    return lines


@check("revision")
def check_revision(ctx: Context) -> Check:
    """A database behind head runs code against a schema it does not expect: the pending revisions."""
    project = ctx.project
    if not project.version_table_known:
        return Check(SKIP, _("unknown: the version table is not known (see version-table)"), blind=True)
    rows = ctx.version_rows
    if not rows:
        if ctx.colliding_tables:
            return Check(SKIP, _("unknown: no version recorded (see version-table)"))
        pending = list(reversed(project.revisions))
        summary = (
            _("nothing migrated yet: {count} revisions pending, `{upgrade}` has never run here")
            if ctx.app_tables
            else _("empty database: {count} revisions pending, `{upgrade}` has never run here")
        )
        return Check(
            FAIL,
            summary.format(count=len(pending), upgrade=project.command("upgrade", "head")),
            [_("pending: {revisions}").format(revisions=", ".join(pending))],
            kind="never-migrated",
            page="run-migrations",
        )
    if any(row not in project.revisions for row in rows):
        return Check(SKIP, _("unknown: the recorded revision is not in the scripts (see version-table)"))
    pending = ctx.pending
    if pending is None:
        return Check(SKIP, _("unknown: Alembic cannot resolve the recorded rows (see version-table)"))
    if len(project.heads) > 1:
        return Check(
            SKIP,
            _("not compared with head: the scripts have several heads (see scripts)"),
            [_("not applied: {revisions}").format(revisions=", ".join(pending) or "-")],
        )
    if pending:
        return Check(
            FAIL,
            _plural(
                len(pending),
                "the database is behind head by {count} revision: `{upgrade}` has not run since it was added",
                "the database is behind head by {count} revisions: "
                "`{upgrade}` has not run since they were added",
                upgrade=project.command("upgrade", "head"),
            ),
            [
                _("current: {revisions}").format(revisions=", ".join(rows)),
                _("pending: {revisions}").format(revisions=", ".join(pending)),
            ],
            kind="behind",
            page="run-migrations",
        )
    return Check(OK, _("at head {revision}").format(revision=", ".join(rows)))


@check("version-width")
def check_version_width(ctx: Context) -> Check:
    """A revision id longer than ``version_num`` (varchar(32)) runs its DDL, then fails to record itself."""
    project = ctx.project
    if not project.version_table_known:
        return Check(SKIP, _("unknown: the version table is not known (see version-table)"))
    width = ctx.ask(diagnosis.version_width, project.version_table, ctx.version_schema)
    if width is None:
        return Check(OK, _("version_num has no length limit"))
    too_long = [revision for revision in project.revisions if len(revision) > width]
    if too_long:
        return Check(
            FAIL,
            _plural(
                len(too_long),
                "{count} revision id longer than {table}.version_num "
                '(varchar({width})): `{upgrade}` fails with "value too long for type character '
                'varying"',
                "{count} revision ids longer than {table}.version_num "
                '(varchar({width})): `{upgrade}` fails with "value too long for type character '
                'varying"',
                table=project.version_table,
                width=width,
                upgrade=project.command("upgrade"),
            ),
            [
                _("{revision} ({length} characters)").format(revision=revision, length=len(revision))
                for revision in too_long
            ],
            page="run-migrations",
        )
    return Check(OK, _("every revision id fits version_num (varchar({width}))").format(width=width))


@check("drift")
def check_drift(ctx: Context) -> Check:
    """Models and schema that disagree make `alembic check` fail and the next autogenerate write the wrong
    migration; compared with env.py's own settings (compare_server_default, include_object, ...)."""
    project = ctx.project
    if project.metadata is None:
        return Check(SKIP, project.metadata_note, blind=project.env_error is not None)
    if not ctx.at_head:
        return Check(SKIP, _("not compared: the database is not at head (see above)"))
    diffs = ctx.drift
    if diffs:
        return Check(
            FAIL,
            _plural(
                len(diffs),
                "the live schema differs from the models in {count} way: `{check}` "
                'fails with "New upgrade operations detected"',
                "the live schema differs from "
                'the models in {count} ways: `{check}` fails with "New upgrade operations '
                'detected"',
                check=project.command("check"),
            ),
            diffs,
        )
    return Check(OK, _("the live schema matches the models ({source})").format(source=project.metadata_note))


@check("invalid-indexes")
def check_invalid_indexes(ctx: Context) -> Check:
    """A `CREATE INDEX CONCURRENTLY` that failed or was cancelled leaves an invalid index: unused by queries,
    still updated on every write, and in the way of the retry ("already exists")."""
    invalid = ctx.ask(diagnosis.invalid_indexes, ctx.schemas)
    if invalid:
        return Check(
            FAIL,
            _plural(
                len(invalid),
                "{count} invalid index (a failed or cancelled CREATE INDEX "
                "CONCURRENTLY): queries do not use it, every write still updates it",
                "{count} invalid indexes (a failed or cancelled CREATE INDEX CONCURRENTLY): "
                "queries do not use them, every write still updates them",
            ),
            [
                _("{index} on {table}: {statement}").format(index=index, table=table, statement=statement)
                for index, table, statement in invalid
            ],
            page="best-practices",
        )
    return Check(OK, _("no invalid index"))


@check("migration-role")
def check_migration_role(ctx: Context) -> Check:
    """Migrations need CREATE on the schema and ownership of what they alter; the connected role is the one
    that runs them."""
    user = ctx.read("SELECT current_user")[0][0]
    if ctx.server[2]:
        return Check(OK, _("{user} is a superuser").format(user=user))
    schema = ctx.app_schema
    no_create = not ctx.read("SELECT has_schema_privilege(%s, 'CREATE')", [schema])[0][0]
    not_owned = ctx.read(
        """
        SELECT CASE c.relkind WHEN 'S' THEN 'sequence' WHEN 'v' THEN 'view' WHEN 'm' THEN 'materialized view'
                              ELSE 'table' END || ' ' || c.relname, pg_get_userbyid(c.relowner)
        FROM pg_class c
        WHERE c.relnamespace = to_regnamespace(%s) AND c.relkind IN ('r', 'p', 'v', 'm', 'S')
          AND NOT pg_has_role(current_user, c.relowner, 'USAGE') ORDER BY c.relname""",
        [schema],
    )
    if no_create or not_owned:
        reasons = (
            [
                _('no CREATE on schema {schema} ("permission denied for schema {schema}")').format(
                    schema=schema
                )
            ]
            if no_create
            else []
        ) + (
            [
                _plural(
                    len(not_owned),
                    'does not own {count} object it must alter ("must be owner of table ...")',
                    'does not own {count} objects it must alter ("must be owner of table ...")',
                )
            ]
            if not_owned
            else []
        )
        return Check(
            FAIL,
            _("{user} cannot run migrations here: {reasons}").format(user=user, reasons="; ".join(reasons)),
            [_("{what} is owned by {owner}").format(what=what, owner=owner) for what, owner in not_owned],
        )
    return Check(
        OK, _("{user} owns every object in {schema} and may create there").format(user=user, schema=schema)
    )


@check("app-role")
def check_app_role(ctx: Context) -> Check:
    """The application's role needs DML on every table and sequence, now and after the next migration (default
    privileges), and must not write the version table (only migrations move it)."""
    role, project, schema = ctx.app_role, ctx.project, ctx.app_schema
    if not role:
        return Check(SKIP, _("not checked: pass --app-role NAME (the role the application connects as)"))
    found = ctx.read("SELECT rolcanlogin, rolsuper FROM pg_roles WHERE rolname = %s", [role])
    if not found:
        return Check(FAIL, _("role {role} does not exist").format(role=role), kind="missing")
    can_login, superuser = found[0]
    if superuser:
        if can_login:
            return Check(OK, _("{role} is a superuser").format(role=role))
        return Check(FAIL, _("{role} is a superuser without LOGIN").format(role=role), kind="no-login")
    # The permissions runbook's own reading of the catalog (diagnosis.table_privileges), so they never
    # disagree.
    access = ctx.ask(diagnosis.access_privileges, role, schema)
    objects = ctx.ask(diagnosis.table_privileges, role, schema)
    defaults = ctx.ask(diagnosis.default_privileges, schema)
    identity = {
        row[0]
        for row in ctx.read(
            """
        SELECT c.relname FROM pg_class c JOIN pg_depend d ON d.classid = 'pg_class'::regclass AND d.objid =
        c.oid
        WHERE c.relnamespace = to_regnamespace(%s) AND c.relkind = 'S' AND d.deptype = 'i'""",
            [schema],
        )
    }
    missing = [] if can_login else [_('no LOGIN ("role ... is not permitted to log in")')]
    missing += [
        _("no {privilege} on {what}").format(privilege=what.split()[-1], what=what.rsplit(" ", 1)[0])
        for what in ("database CONNECT", f"schema {schema} USAGE")
        if not access[what]
    ]
    # The app needs DML on its tables, not on the version table; identity sequences need no grant of their
    # own.
    missing += [
        _("no {privileges} on {kind} {name}").format(
            privileges=", ".join(item.missing), kind=item.kind, name=item.name
        )
        for item in objects
        if item.missing and item.name != project.version_table and item.name not in identity
    ]
    if missing:
        return Check(
            FAIL,
            _(
                '{role} cannot use the application\'s tables: queries fail with "permission denied for ..."'
            ).format(role=role),
            missing,
        )
    writes = ctx.ask(diagnosis.version_table_writes, role, ctx.version_schema, project.version_table)
    if writes:
        return Check(
            FAIL,
            _(
                "{role} can write {table}: only migrations should move the recorded revision (the app "
                "may read it)"
            ).format(role=role, table=project.version_table),
            [f"REVOKE {', '.join(writes)} ON {ctx.version_schema}.{project.version_table} FROM {role}"],
            kind="writes-version-table",
        )
    # Default privileges: what the *next* migration creates is granted only if its owner has them set up.
    owners = sorted(
        {item.owner for item in objects if item.kind == "table" and item.name != project.version_table}
        or {ctx.read("SELECT current_user")[0][0]}
    )
    needed = set(diagnosis.TABLE_PRIVILEGES)
    granted = {
        owner
        for owner, kind, grantee, privileges in defaults
        if kind == "tables" and grantee == role and needed <= set(privileges.split(", "))
    }
    without_defaults = [owner for owner in owners if owner not in granted]
    if without_defaults:
        return Check(
            WARN,
            _("{role} can use today's tables, but not the ones the next migration creates").format(role=role),
            [
                _("no {statement}").format(
                    statement=f"ALTER DEFAULT PRIVILEGES FOR ROLE {owner} IN SCHEMA "
                    f"{schema} GRANT ... ON TABLES TO {role}"
                )
                for owner in without_defaults
            ],
            kind="default-privileges",
        )
    return Check(
        OK,
        _("{role} may read and write every table in {schema}, now and after migrations").format(
            role=role, schema=schema
        ),
    )


@check("locks")
def check_locks(ctx: Context) -> Check:
    """Sessions that make a migration's DDL wait (and then fail on lock_timeout, or stall every query queued
    behind it): any exclusive lock held on an application table or the version table, whatever its age; a
    session idle in a transaction; anyone already waiting. Never "ok" while another check timed out on a
    lock."""
    blocking, long_running = [], []
    for lock in ctx.ask(diagnosis.table_locks, ctx.schemas):
        if not lock.granted:
            blocking.append(
                _("{who} waits for {mode} on {table}, blocked by pid {pids}").format(
                    who=lock.who, mode=lock.mode, table=lock.table, pids=", ".join(map(str, lock.blocked_by))
                )
            )
        elif lock.mode in BLOCKING_MODES:
            blocking.append(
                _("{who} holds {mode} on {table} ({state})").format(
                    who=lock.who, mode=lock.mode, table=lock.table, state=lock.state or "?"
                )
            )
        elif (
            lock.state
            and lock.state.startswith("idle in transaction")
            and (lock.state_seconds or 0) >= IDLE_IN_TRANSACTION_SECONDS
        ):
            blocking.append(
                _("{who} is {state} for {seconds} s holding {mode} on {table}").format(
                    who=lock.who,
                    state=lock.state,
                    seconds=lock.state_seconds,
                    mode=lock.mode,
                    table=lock.table,
                )
            )
        elif (lock.transaction_seconds or 0) >= LONG_TRANSACTION_SECONDS:
            long_running.append(
                _("{who} in a transaction for {seconds} s holding {mode} on {table}").format(
                    who=lock.who, seconds=lock.transaction_seconds, mode=lock.mode, table=lock.table
                )
            )
    if blocking:
        return Check(
            FAIL,
            _(
                "sessions hold or wait for locks on application tables: a migration's DDL waits, then "
                'fails with "canceling statement due to lock timeout"'
            ),
            blocking + long_running,
            page="run-migrations",
        )
    if ctx.timeouts:
        return Check(
            FAIL,
            _(
                "other checks timed out waiting for a lock, held outside the application tables (the "
                "catalog, another schema): a migration would wait too"
            ),
            list(ctx.timeouts),
            kind="timeout",
            page="run-migrations",
        )
    if long_running:
        return Check(
            WARN,
            _("long transactions hold locks on application tables: DDL would wait"),
            long_running,
            page="run-migrations",
        )
    return Check(OK, _("no session blocks DDL on the application tables"))


@check("migration-lock")
def check_migration_lock(ctx: Context) -> Check:
    """A migration that holds the project's advisory lock makes every other `alembic upgrade` (each
    container's start) wait for it, then fail: name the session, read from pg_locks without waiting for the
    lock."""
    key = ctx.lock_key if ctx.lock_key is not None else ctx.project.lock_key
    if key == "none":
        return Check(SKIP, _("not checked (--lock-key none)"))
    if key is None:
        return Check(
            SKIP,
            _(
                "does not apply: the project names no migration lock ([scryer_runbook] lock_key in "
                "alembic.ini, or --lock-key)"
            ),
        )
    sessions = ctx.ask(diagnosis.advisory_lock_sessions, key)
    holders = [
        _("pid {pid} ({who}) holds it, {state}").format(
            pid=pid, who=", ".join(filter(None, [user or "?", app])), state=state or _("state hidden")
        )
        + (_(", for {seconds} s").format(seconds=age) if age is not None else "")
        for pid, granted, user, app, state, age in sessions
        if granted
    ]
    waiting = sum(1 for row in sessions if not row[1])
    if holders:
        return Check(
            FAIL,
            _(
                "the migration lock ({key}) is held: a migration is running or stuck; each new `{upgrade}` "
                "waits for it, then fails"
            ).format(key=key, upgrade=ctx.project.command("upgrade")),
            holders + ([_("{count} more waiting").format(count=waiting)] if waiting else []),
            page="docker",
        )
    return Check(OK, _("the migration lock ({key}) is free").format(key=key))
