"""`scryer-runbook doctor`: a read-only triage of a database and an Alembic project, naming the runbook to
open.

    scryer-runbook doctor [-c alembic.ini] [--url URL] [--app-role NAME] [--json] [--lang zh|en]

From Python or a notebook cell: ``doctor.triage(url, alembic_ini).print()`` (or ``.to_json()``).

Read-only is enforced by the server: every query goes through ``diagnosis.connect()``/``diagnosis.engine()``,
whose sessions run with ``default_transaction_read_only=on``, a 1 s ``lock_timeout`` and a 10 s
``statement_timeout``: the doctor never queues behind a migration and says what it could not read. env.py is
read in offline mode (as ``alembic upgrade --sql`` would) and stopped at its ``context.configure()``, so it
opens no connection either. The checks are ``checks.REGISTRY``, run in its order.

Exit codes:

- 0 healthy: every check ran; warnings allowed unless ``--strict``;
- 1 findings: at least one check failed (or warned, with ``--strict``);
- 2 could not run: bad URL, no alembic.ini, broken scripts;
- 3 incomplete: no finding, but something that decides health could not be checked (env.py could not be read,
  so drift or the version table could not be checked, or a check could not read what it needed): never
  "healthy", with or without ``--strict``. A finding wins: the exit is then 1.

Every line it prints is in the reader's language (``--lang``, else ``SCRYER_LANG``, else the locale).
Passwords are never printed.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

from scryer_runbook import catalogue, checks, i18n, problems, urls
from scryer_runbook.checks import FAIL, OK, SKIP, WARN, Check
from scryer_runbook.i18n import _, ngettext
from scryer_runbook.project import REPO_ROOT

__all__ = ["Check", "Report", "triage", "add_arguments", "run"]

APPLICATION_NAME = "scryer-runbook doctor"  # how the doctor's sessions show up in pg_stat_activity
EVIDENCE_SHOWN = 4  # per line in the text report; --json has all of it
EXIT_CODES = {"healthy": 0, "findings": 1, "error": 2, "incomplete": 3}


@dataclass
class Report:
    target: str  # the URL, password masked
    project: str  # the alembic.ini
    lang: str
    checks: list[Check] = field(default_factory=list)
    error: str | None = None  # why the doctor could not run (exit 2)
    elapsed: float = 0.0  # seconds
    strict: bool = False  # warnings count as findings
    cli: str = "alembic"  # how the project runs Alembic (the commands in the report use it)
    notes: list[str] = field(default_factory=list)  # how the project was read, when it took a guess

    @property
    def findings(self) -> list[Check]:
        return [
            check for check in self.checks if check.status == FAIL or (self.strict and check.status == WARN)
        ]

    @property
    def blind(self) -> list[Check]:
        """Checks that could not see something that decides health: the report is then never "healthy"."""
        return [check for check in self.checks if check.blind]

    @property
    def status(self) -> str:
        if self.error:
            return "error"
        return "findings" if self.findings else "incomplete" if self.blind else "healthy"

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.status]

    def check(self, check_id: str) -> Check:
        return next(check for check in self.checks if check.id == check_id)

    def text(self) -> str:
        with i18n.speaking(self.lang):
            return self._text()

    def _text(self) -> str:
        lines = [_("doctor: {target} (project {project})").format(target=self.target, project=self.project)]
        lines += [_("note: {note}").format(note=note) for note in self.notes]
        if self.error:
            return "\n".join([*lines, _("could not run: {error}").format(error=self.error)])
        for check in self.checks:
            evidence = check.evidence[:EVIDENCE_SHOWN]
            if len(check.evidence) > EVIDENCE_SHOWN:
                evidence.append(
                    _("+{count} more (--json)").format(count=len(check.evidence) - EVIDENCE_SHOWN)
                )
            lines.append(
                f"{check.status:<5} {check.id:<15} {check.summary}"
                + (f" [{'; '.join(evidence)}]" if evidence else "")
            )
            if check.link:
                where = _("runbook: {url}") if check.link in catalogue.SLUGS else _("see: {url}")
                lines.append(f"{'':<21} {where.format(url=check.url(self.lang))}")
        counts = {
            status: sum(check.status == status for check in self.checks) for status in (OK, FAIL, WARN, SKIP)
        }
        tally = _("{ok} ok, {skipped} skipped").format(ok=counts[OK], skipped=counts[SKIP]) + (
            _(", {count} warnings").format(count=counts[WARN]) if counts[WARN] else ""
        )
        took = f"{self.elapsed * 1000:.0f} ms"
        blind = ", ".join(check.id for check in self.blind)
        if self.findings:
            names = ", ".join(check.id for check in self.findings)
            lines.append(
                ngettext(
                    "{count} finding ({names}); {tally}; {took}; exit {code}",
                    "{count} findings ({names}); {tally}; {took}; exit {code}",
                    len(self.findings),
                ).format(count=len(self.findings), names=names, tally=tally, took=took, code=self.exit_code)
            )
            if blind:
                lines.append(_("not checked, so not known healthy either: {checks}").format(checks=blind))
        elif blind:
            lines.append(
                _(
                    "incomplete, not healthy: {checks} could not be checked; {tally}; {took}; exit {code}"
                ).format(checks=blind, tally=tally, took=took, code=self.exit_code)
            )
        else:
            lines.append(_("healthy: {tally}; {took}; exit 0").format(tally=tally, took=took))
        return "\n".join(lines)

    def print(self, file=None) -> None:
        print(self.text(), file=file or sys.stdout)

    def as_dict(self) -> dict:
        return {
            "status": self.status,
            "exit_code": self.exit_code,
            "target": self.target,
            "project": self.project,
            "cli": self.cli,
            "notes": self.notes,
            "lang": self.lang,
            "elapsed_ms": round(self.elapsed * 1000, 1),
            "error": self.error,
            "checks": [
                {
                    "id": check.id,
                    "status": check.status,
                    "summary": check.summary,
                    "evidence": check.evidence,
                    "finding": check.finding if check.link else None,
                    "runbook": check.link if check.link in catalogue.SLUGS else None,
                    "url": check.url(self.lang),
                    "blind": check.blind,
                }
                for check in self.checks
            ],
        }

    def to_json(self) -> str:
        return json.dumps(self.as_dict(), indent=2, ensure_ascii=False)


def triage(
    url: str | None = None,
    alembic_ini: str | Path | None = None,
    *,
    app_role: str | None = None,
    metadata: str | None = None,
    lock_key: int | str | None = None,
    lang: str | None = None,
    connect_timeout: int = 3,
    strict: bool = False,
) -> Report:
    """Run every check; never raises for a problem it can name (the report says what could not run).

    ``url``: default ``DATABASE_URL`` (or .env). ``alembic_ini``: default this repository's Scryer project.
    ``metadata``: ``"module:attr"`` to compare with instead of env.py's ``target_metadata``; ``"none"`` skips.
    ``lock_key``: the advisory lock key env.py migrates under; default: the project's (``[scryer_runbook]
    lock_key`` in alembic.ini); ``"none"``: not checked.
    """
    started = time.perf_counter()
    ini = Path(alembic_ini) if alembic_ini else REPO_ROOT / "alembic.ini"
    report = Report(_("(no URL)"), str(ini), lang or i18n.default_lang(), strict=strict)
    with i18n.speaking(report.lang):
        try:
            parsed = urls.parse(url, "--url") if url else urls.parse(urls.database_url())
            report.target = urls.masked(parsed.set(drivername="postgresql"))
            if "application_name" not in parsed.query:
                parsed = parsed.update_query_dict({"application_name": APPLICATION_NAME})
            project = checks.load_project(ini, metadata)
            report.cli, report.notes = project.cli, project.notes
            ctx = checks.Context.open(
                urls.libpq(parsed), project, connect_timeout, app_role=app_role, lock_key=lock_key
            )
            with contextlib.closing(ctx.conn) if ctx.conn else contextlib.nullcontext():
                report.checks = [run_check(ctx, registered) for registered in checks.REGISTRY.values()]
        except (urls.BadURL, checks.CannotRun) as error:
            report.error = str(error)
    report.elapsed = time.perf_counter() - started
    return report


def run_check(ctx: checks.Context, registered: checks.Registered) -> Check:
    """One check, guarded: its failure to read something is itself a finding, and never stops the others."""
    if registered.needs_database and ctx.conn is None:
        result = Check(SKIP, _("not checked: no connection"))
    else:
        try:
            result = registered.function(ctx)
        except Exception as error:  # noqa: BLE001 - reported, not raised: the other checks still run
            result = _could_not_check(ctx, registered.id, getattr(error, "orig", None) or error)
    result.id = registered.id
    return result


def _could_not_check(ctx: checks.Context, check_id: str, error: BaseException) -> Check:
    if isinstance(error, psycopg.errors.InsufficientPrivilege):
        return Check(
            FAIL,
            _("could not check: {error}").format(error=problems.first_line(error)),
            kind="permission-denied",
            page="permissions",
            blind=True,
        )
    if isinstance(error, (psycopg.errors.LockNotAvailable, psycopg.errors.QueryCanceled)):
        ctx.timeouts.append(f"{check_id}: {problems.first_line(error)}")
        return Check(
            FAIL,
            _("could not check: gave up waiting for a lock (see locks)"),
            [problems.first_line(error)],
            kind="timeout",
            page="run-migrations",
            blind=True,
        )
    return Check(
        WARN,
        _("could not check: {error}").format(error=f"{type(error).__name__}: {problems.first_line(error)}"),
        blind=True,
    )


# The command line -------------------------------------------------------------------------------------------


def add_arguments(parser, command: str) -> None:
    parser.add_argument(
        "--url",
        help="the database (default: $DATABASE_URL, else .env); prefer the variable, a URL "
        "on the command line shows its password to `ps`",
    )
    parser.add_argument(
        "-c",
        "--config",
        default=os.environ.get("ALEMBIC_CONFIG", "alembic.ini"),
        help="the Alembic project's alembic.ini (default: ./alembic.ini, as alembic)",
    )
    parser.add_argument(
        "--app-role",
        metavar="NAME",
        help="the role the application connects as: check that it "
        "may read and write every table and use their sequences",
    )
    parser.add_argument(
        "--metadata",
        metavar="MODULE:ATTR",
        help="the models to compare the live schema with "
        "(default: env.py's target_metadata; 'none' skips the drift check)",
    )
    parser.add_argument(
        "--lock-key",
        type=_lock_key,
        metavar="KEY",
        help="the pg_advisory_lock key env.py migrates under (default: [scryer_runbook] lock_key in "
        "alembic.ini; without one the check does not apply; 'none' skips)",
    )
    parser.add_argument(
        "--lang",
        choices=i18n.LANGUAGES,
        help="language of the report (default: $SCRYER_LANG, else the locale)",
    )
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument(
        "--strict",
        action="store_true",
        help="warnings count as findings (exit 1); a run that could not check everything exits 3 in any case",
    )
    parser.add_argument(
        "--connect-timeout",
        type=int,
        default=3,
        metavar="SECONDS",
        help="give up reaching the server after this long (default: 3; libpq's minimum is 2)",
    )


def _lock_key(text: str) -> int | str:
    if text.lower() == "none":
        return "none"
    try:
        return int(text, 0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None


def run(args) -> int:
    report = triage(
        args.url,
        Path(args.config),
        app_role=args.app_role,
        metadata=args.metadata,
        lock_key=args.lock_key,
        lang=args.lang,
        connect_timeout=args.connect_timeout,
        strict=args.strict,
    )
    if args.json:
        print(report.to_json())
    else:
        report.print(sys.stderr if report.error else sys.stdout)
    return report.exit_code
