"""The runbook catalogue: the one list of runbooks, and what each one answers.

Everything else follows from it or is checked against it: the site's nav and its translations
(``hooks/catalogue_nav.py``), the doctor's runbook links, the CLI's one-line errors and ``scryer-runbook explain``,
the tests' lists.
Adding a runbook starts with an entry here (see CONTRIBUTING.md); the test suite then names every file that is
still missing (notebooks, scenario, error-index section, tests).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class RunbookEntry:
    slug: str  # the notebooks are notebooks/<slug>.zh.ipynb and .en.ipynb; the page is /runbooks/<slug>/
    title_zh: str  # the nav title (the notebooks' H1 is the long error message)
    title_en: str
    errors: tuple[
        str, ...
    ] = ()  # exact texts it answers, as Alembic, SQLAlchemy, psycopg or PostgreSQL print them
    sqlstates: tuple[str, ...] = ()  # SQLSTATEs it answers
    # Doctor findings that link here: "<check id>" or "<check id>:<kind>" (the more specific key wins).
    findings: tuple[str, ...] = field(default=())

    def title(self, lang: str) -> str:
        return self.title_zh if lang == "zh" else self.title_en


RUNBOOKS: tuple[RunbookEntry, ...] = (
    RunbookEntry(
        "already-exists",
        "Runbook：表已存在",
        "Runbook: already exists",
        errors=('relation "users" already exists',),
        sqlstates=("42P07",),
        findings=("version-table:no-version",),
    ),
    RunbookEntry(
        "not-ready",
        "Runbook：数据库未就绪",
        "Runbook: database not ready",
        errors=(
            "Connection refused",
            "the database system is starting up",
            "the database system is not yet accepting connections",
            "password authentication failed for user",
            "Name or service not known",
        ),
        findings=("connection", "server"),
    ),
    RunbookEntry(
        "multiple-heads",
        "Runbook：多个 head",
        "Runbook: multiple heads",
        errors=(
            "Multiple head revisions are present for given argument 'head'",
            "Multiple heads are present; please specify the head revision on which the new revision should be "
            "based, or perform a merge.",
        ),
        findings=("scripts", "version-table:overlap"),
    ),
    RunbookEntry(
        "permissions",
        "Runbook：权限不足",
        "Runbook: permission denied",
        errors=(
            "permission denied for table users",
            "permission denied for schema public",
            "must be owner of table users",
        ),
        sqlstates=("42501",),
        findings=("migration-role", "app-role"),
    ),
    RunbookEntry(
        "autogenerate-drift",
        "Runbook：自动生成不准确",
        "Runbook: autogenerate drift",
        errors=("FAILED: New upgrade operations detected",),
        findings=("drift",),
    ),
    RunbookEntry(
        "migration-blocked",
        "Runbook：迁移被锁阻塞",
        "Runbook: migration blocked by a lock",
        errors=(
            "canceling statement due to lock timeout",
            "canceling statement due to statement timeout",
            "canceling statement due to user request",
            "terminating connection due to administrator command",
        ),
        sqlstates=("55P03", "57014", "57P01"),
        findings=("locks", "migration-lock"),
    ),
    RunbookEntry(
        "enum-types",
        "Runbook：PostgreSQL 枚举类型",
        "Runbook: PostgreSQL enum types",
        errors=(
            'type "task_status" already exists',
            'type "task_status" does not exist',
            'unsafe use of new value "blocked" of enum type task_status',
            "ALTER TYPE ... ADD cannot run inside a transaction block",
            'invalid input value for enum task_status: "blocked"',
        ),
        sqlstates=("42710", "42704", "55P04", "25001"),
    ),
    RunbookEntry(
        "database-ahead",
        "Runbook：数据库比代码新",
        "Runbook: database ahead of the code",
        errors=("Can't locate revision identified by",),
        findings=("version-table:unknown-revision",),
    ),
    RunbookEntry(
        "version-too-long",
        "Runbook：版本号太长",
        "Runbook: revision id too long",
        errors=(
            "value too long for type character varying(32)",
            "(psycopg.errors.StringDataRightTruncation) value too long for type character varying(32)",
        ),
        sqlstates=("22001",),
        findings=("version-width",),
    ),
    RunbookEntry(
        "concurrent-index",
        "Runbook：不能在事务中执行的 DDL",
        "Runbook: DDL outside a transaction",
        errors=(
            "CREATE INDEX CONCURRENTLY cannot run inside a transaction block",
            "DROP INDEX CONCURRENTLY cannot run inside a transaction block",
            # VACUUM's "cannot run inside a transaction block" is shown on the runbook page; ALTER TYPE ... ADD's
            # belongs to the enum-types runbook
        ),
        sqlstates=("25001",),
        findings=("invalid-indexes",),
    ),
)

SLUGS: tuple[str, ...] = tuple(entry.slug for entry in RUNBOOKS)


def entry(slug: str) -> RunbookEntry:
    return next(item for item in RUNBOOKS if item.slug == slug)


def runbook_for(finding: str) -> str | None:
    """The runbook a doctor finding key names exactly (``"version-table:overlap"``, ``"drift"``), if any."""
    return next((item.slug for item in RUNBOOKS if finding in item.findings), None)
