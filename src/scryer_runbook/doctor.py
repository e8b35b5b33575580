"""`scryer-runbook doctor`: a read-only triage of a database and an Alembic project, naming the runbook to open.

    scryer-runbook doctor [-c alembic.ini] [--url URL | $DATABASE_URL] [--app-role NAME] [--json] [--lang zh|en]

From Python or a notebook cell: ``doctor.triage(url, alembic_ini).print()`` (or ``.to_json()``).

Read-only is enforced by the server: every query goes through ``diagnosis.connect()``/``diagnosis.engine()``,
whose sessions run with ``default_transaction_read_only=on``. env.py is read in offline mode (as
``alembic upgrade --sql`` would) and stopped at its ``context.configure()``, so it opens no connection either.

Exit codes: 0 healthy (warnings allowed unless ``--strict``), 1 findings, 2 could not run (bad URL, no
alembic.ini, broken scripts). Passwords are never printed.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from scryer_runbook import checks, problems, urls
from scryer_runbook.checks import FAIL, OK, SCRYER_LOCK_KEY, SKIP, WARN, Check
from scryer_runbook.project import REPO_ROOT

__all__ = ["Check", "Report", "triage", "add_arguments", "run"]

APPLICATION_NAME = "scryer-runbook doctor"  # how the doctor's sessions show up in pg_stat_activity
EVIDENCE_SHOWN = 4  # per line in the text report; --json has all of it
CHECKS = ("connection", "server", "scripts", "version-table", "revision", "version-width", "drift", "migration-role",
          "app-role", "locks", "migration-lock")  # in report order


@dataclass
class Report:
    target: str  # the URL, password masked
    project: str  # the alembic.ini
    lang: str
    checks: list[Check] = field(default_factory=list)
    error: str | None = None  # why the doctor could not run (exit 2)
    elapsed: float = 0.0  # seconds
    strict: bool = False  # warnings count as findings

    @property
    def findings(self) -> list[Check]:
        return [check for check in self.checks if check.status == FAIL or (self.strict and check.status == WARN)]

    @property
    def exit_code(self) -> int:
        return 2 if self.error else 1 if self.findings else 0

    @property
    def status(self) -> str:
        return ("healthy", "findings", "error")[self.exit_code]

    def check(self, check_id: str) -> Check:
        return next(check for check in self.checks if check.id == check_id)

    def text(self) -> str:
        lines = [f"doctor: {self.target} (project {self.project})"]
        if self.error:
            return "\n".join([*lines, f"could not run: {self.error}"])
        for check in self.checks:
            evidence = check.evidence[:EVIDENCE_SHOWN]
            if len(check.evidence) > EVIDENCE_SHOWN:
                evidence.append(f"+{len(check.evidence) - EVIDENCE_SHOWN} more (--json)")
            lines.append(f"{check.status:<5} {check.id:<15} {check.summary}"
                         + (f" [{'; '.join(evidence)}]" if evidence else ""))
            if check.status in (FAIL, WARN) and check.link:
                kind = "runbook" if check.link in problems.RUNBOOKS else "see"
                lines.append(f"{'':<21} {kind}: {check.url(self.lang)}")
        counts = {status: sum(check.status == status for check in self.checks) for status in (OK, FAIL, WARN, SKIP)}
        tally = f"{counts[OK]} ok, {counts[SKIP]} skipped" + (f", {counts[WARN]} warnings" if counts[WARN] else "")
        took = f"{self.elapsed * 1000:.0f} ms"
        if self.findings:
            names = ", ".join(check.id for check in self.findings)
            lines.append(f"{len(self.findings)} finding{'s' if len(self.findings) > 1 else ''} ({names}); {tally}; "
                         f"{took}; exit 1")
        else:
            lines.append(f"healthy: {tally}; {took}; exit 0")
        return "\n".join(lines)

    def print(self, file=None) -> None:
        print(self.text(), file=file or sys.stdout)

    def as_dict(self) -> dict:
        return {
            "status": self.status, "exit_code": self.exit_code, "target": self.target, "project": self.project,
            "lang": self.lang, "elapsed_ms": round(self.elapsed * 1000, 1), "error": self.error,
            "checks": [{"id": check.id, "status": check.status, "summary": check.summary,
                        "evidence": check.evidence,
                        "runbook": check.link if check.link in problems.RUNBOOKS else None,
                        "url": check.url(self.lang)} for check in self.checks],
        }

    def to_json(self) -> str:
        return json.dumps(self.as_dict(), indent=2, ensure_ascii=False)


def triage(url: str | None = None, alembic_ini: str | Path | None = None, *, app_role: str | None = None,
           metadata: str | None = None, lock_key: int | None = SCRYER_LOCK_KEY, lang: str | None = None,
           connect_timeout: int = 3, strict: bool = False) -> Report:
    """Run every check; never raises for a problem it can name (the report says what could not run).

    ``url``: default ``DATABASE_URL`` (or .env). ``alembic_ini``: default this repository's Scryer project.
    ``metadata``: ``"module:attr"`` to compare with instead of env.py's ``target_metadata``; ``"none"`` skips.
    ``lock_key``: the advisory lock key env.py migrates under (None: not checked).
    """
    started = time.perf_counter()
    ini = Path(alembic_ini) if alembic_ini else REPO_ROOT / "alembic.ini"
    report = Report("(no URL)", str(ini), lang or problems.default_lang(), strict=strict)
    try:
        parsed = urls.parse(url, "--url") if url else urls.parse(urls.database_url())
        report.target = urls.masked(parsed.set(drivername="postgresql"))
        if "application_name" not in parsed.query:
            parsed = parsed.update_query_dict({"application_name": APPLICATION_NAME})
        report.checks = _run_checks(urls.libpq(parsed), ini, app_role, metadata, lock_key, connect_timeout)
    except urls.BadURL as error:
        report.error = str(error)
    except checks.CannotRun as error:
        report.error = str(error)
    report.elapsed = time.perf_counter() - started
    return report


def _run_checks(url: str, ini: Path, app_role, metadata, lock_key, connect_timeout) -> list[Check]:
    project = checks.load_project(ini, metadata)
    conn, connection = checks.check_connection(url, connect_timeout)
    scripts = checks.check_scripts(project)
    if conn is None:
        skipped = {check_id: Check(check_id, SKIP, "not checked: no connection") for check_id in CHECKS}
        return [{"connection": connection, "scripts": scripts}.get(check_id) or skipped[check_id]
                for check_id in CHECKS]
    facts = checks.Facts()
    with conn:
        server = _guarded("server", checks.check_server, conn, facts)
        version = _guarded("version-table", checks.check_version_table, conn, project, facts)
        revision = _guarded("revision", checks.check_revision, project, facts, version)
        results = [connection, server, scripts, version, revision,
                   _guarded("version-width", checks.check_version_width, conn, project, facts),
                   _guarded("drift", checks.check_drift, url, project, facts, version),
                   _guarded("migration-role", checks.check_migration_role, conn, project, facts),
                   _guarded("app-role", checks.check_app_role, conn, project, facts, app_role),
                   _guarded("locks", checks.check_locks, conn, project, facts),
                   _guarded("migration-lock", checks.check_migration_lock, conn, lock_key)]
    return results


def _guarded(check_id: str, function, *args) -> Check:
    """One check's failure to read something is itself a finding, and never stops the others."""
    import psycopg  # noqa: PLC0415 - already loaded by checks; local to keep the module's surface small

    try:
        return function(*args)
    except psycopg.errors.InsufficientPrivilege as error:
        return Check(check_id, FAIL, f"could not check: {problems.first_line(error)}", [], "permissions")
    except (psycopg.errors.LockNotAvailable, psycopg.errors.QueryCanceled) as error:
        return Check(check_id, FAIL, "could not check: waited too long for a lock (see locks)",
                     [problems.first_line(error)], "run-migrations")
    except Exception as error:  # noqa: BLE001 - reported, not raised: the other checks still run
        return Check(check_id, WARN, f"could not check: {type(error).__name__}: {problems.first_line(error)}")


# The command line ------------------------------------------------------------------------------------------------


def add_arguments(parser, command: str) -> None:
    parser.add_argument("--url", help="the database (default: $DATABASE_URL, else .env); prefer the variable, a URL "
                                      "on the command line shows its password to `ps`")
    parser.add_argument("-c", "--config", default=os.environ.get("ALEMBIC_CONFIG", "alembic.ini"),
                        help="the Alembic project's alembic.ini (default: ./alembic.ini, as alembic)")
    parser.add_argument("--app-role", metavar="NAME", help="the role the application connects as: check that it "
                        "may read and write every table and use their sequences")
    parser.add_argument("--metadata", metavar="MODULE:ATTR", help="the models to compare the live schema with "
                        "(default: env.py's target_metadata; 'none' skips the drift check)")
    parser.add_argument("--lock-key", type=_lock_key, default=SCRYER_LOCK_KEY, metavar="KEY",
                        help="the pg_advisory_lock key env.py migrates under (default: Scryer's; 'none' skips)")
    parser.add_argument("--lang", choices=("zh", "en"), help="language of the runbook links (default: from LANG)")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument("--strict", action="store_true", help="warnings count as findings (exit 1)")
    parser.add_argument("--connect-timeout", type=int, default=3, metavar="SECONDS",
                        help="give up reaching the server after this long (default: 3; libpq's minimum is 2)")


def _lock_key(text: str) -> int | None:
    if text.lower() == "none":
        return None
    try:
        return int(text, 0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None


def run(args) -> int:
    report = triage(args.url, Path(args.config), app_role=args.app_role, metadata=args.metadata, lock_key=args.lock_key,
                    lang=args.lang, connect_timeout=args.connect_timeout, strict=args.strict)
    if args.json:
        print(report.to_json())
    else:
        report.print(sys.stderr if report.error else sys.stdout)
    return report.exit_code
