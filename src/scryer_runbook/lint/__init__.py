"""`scryer-runbook lint`: check Alembic revisions before they merge, with squawk and Alembic-aware rules.

    scryer-runbook lint [-c alembic.ini] [--range A:B | --since-ref origin/main] [--json | --format github]
                        [--lang zh|en]

Each revision in scope is rendered offline (`alembic upgrade prev:rev --sql`, no server), squawk lints that
SQL, and every finding is traced back to the revision file and the `op.` call behind it; the rules in rules.py
add what only the chain can tell (heads, tables an earlier revision created, autocommit blocks, downgrades).
From Python: ``lint.lint("alembic.ini").lines()``.

Exit codes: 0 clean, 1 findings, 2 could not run (no alembic.ini, a revision that does not import, a range
or git ref that does not exist), with one line saying which.
"""

from __future__ import annotations

import logging.config
import tempfile
import time
from pathlib import Path
from unittest import mock

from scryer_runbook import diagnosis, i18n, problems
from scryer_runbook.diagnosis.project import project_imports
from scryer_runbook.i18n import _
from scryer_runbook.lint import chain as chains
from scryer_runbook.lint import config as settings_module
from scryer_runbook.lint import render, rules, squawk
from scryer_runbook.lint.chain import CannotLint
from scryer_runbook.lint.command import add_arguments, run
from scryer_runbook.lint.report import Finding, Report, shown_path
from scryer_runbook.lint.source import SourceFile

__all__ = ["KNOWN_RULES", "Finding", "Report", "add_arguments", "lint", "run"]

DISABLE_RULE = "lint-disable"  # findings about the disable comments themselves (cannot be disabled)
KNOWN_RULES = (*rules.RULES, *squawk.ENABLED, *squawk.EXCLUDED)


def lint(
    ini: str | Path = "alembic.ini",
    *,
    revision_range: str | None = None,
    since_ref: str | None = None,
    lang: str | None = None,
) -> Report:
    """Lint the project's revisions: all, ``revision_range`` ("A:B"), or those added since the git
    ``since_ref``."""
    started = time.perf_counter()
    ini = Path(ini)
    report = Report(str(ini), i18n.set_language(lang) if lang else i18n.current())
    try:
        report.revisions, report.findings = _lint(ini, revision_range, since_ref)
    except CannotLint as error:
        report.error = str(error)
    report.elapsed = time.perf_counter() - started
    return report


def _lint(ini: Path, revision_range: str | None, since_ref: str | None) -> tuple[list[str], list[Finding]]:
    if not ini.is_file():
        raise CannotLint(_("{ini}: no such file (pass -c path/to/alembic.ini)").format(ini=ini))
    try:
        settings = settings_module.load(ini)
    except settings_module.BadSettings as error:
        raise CannotLint(str(error)) from None
    unknown = sorted((settings.disable | settings.enable) - set(KNOWN_RULES))
    if unknown:
        raise CannotLint(
            _("unknown rule {rule!r} in {where}").format(rule=unknown[0], where=", ".join(settings.sources))
        )
    config = diagnosis.alembic_config(ini)
    if not config.get_main_option("script_location") and (ini.parent / "env.py").is_file():
        # Flask-Migrate's layout (migrations/alembic.ini beside env.py): `flask db` sets script_location.
        config.set_main_option("script_location", str(ini.resolve().parent))
    root = ini.resolve().parent
    # A project's env.py may configure logging: keep its "Running upgrade" lines out of our output.
    with (
        project_imports(config.get_prepend_sys_paths_list() or []),
        mock.patch.object(logging.config, "fileConfig"),
    ):
        script = chains.load_scripts(config)
        changed = chains.changed_since(root, since_ref) if since_ref else None
        scope = chains.in_range(script, revision_range) if revision_range else None
        chain = chains.build(script, root, scope, changed)
        findings = rules.run(chain, settings.disable)
        findings += _squawk(config, chain, settings)
    files = [item.file for item in chain.revisions] + chain.app_files
    return [item.id for item in chain.revisions], _apply_disables(findings, files)


def _squawk(config, chain: rules.Chain, settings) -> list[Finding]:
    """Render each revision's SQL, lint it with squawk, and point each violation at its `op.` call."""
    rendered = {}
    with tempfile.TemporaryDirectory(prefix="scryer-lint-") as folder:
        files = []
        for number, revision in enumerate(chain.revisions):
            previous = revision.down[0] if revision.down else None
            try:
                sql = render.render(config, chain.script, revision.id, previous, revision.path)
            except Exception as error:  # noqa: BLE001 - a revision that cannot render offline cannot be linted
                reason = f"{type(error).__name__}: {problems.first_line(error)}"
                message = _("{file}: its SQL could not be rendered offline (alembic upgrade --sql): {reason}")
                raise CannotLint(message.format(file=shown_path(revision.path), reason=reason)) from None
            files.append(Path(folder) / f"{number:04d}.sql")
            files[-1].write_text(sql.text, encoding="utf-8")
            rendered[files[-1].name] = (revision, sql)
        exclude = (set(squawk.EXCLUDED) - settings.enable) | (settings.disable & set(squawk.ENABLED))
        try:
            violations = squawk.run(files, exclude)
        except (squawk.SquawkMissing, RuntimeError) as error:
            raise CannotLint(str(error)) from None
    findings = []
    for violation in violations:
        revision, sql = rendered[Path(violation.file).name]
        line = _op_line(revision, sql.source_line(violation.line))
        advice = _(violation.help) if violation.help else _("see the link")
        findings.append(
            Finding(revision.path, line, _(violation.message), advice, violation.rule, "squawk", revision.id)
        )
    return findings


def _op_line(revision: rules.Revision, line: int | None) -> int:
    """The first line of the `op.` call that spans ``line`` (the revision's upgrade() when unknown)."""
    for op in revision.ops:
        if line is not None and op.node.lineno <= line <= (op.node.end_lineno or op.node.lineno):
            return op.line
    upgrade = revision.file.function("upgrade")
    return line or (upgrade.lineno if upgrade else 1)


def _apply_disables(findings: list[Finding], files: list[SourceFile]) -> list[Finding]:
    """Drop what a file's `# scryer-lint: disable=` comments switch off; a comment without a reason, or naming
    a rule that does not exist, is a finding itself."""
    by_path = {file.path.resolve(): file for file in files}
    kept = [
        item
        for item in findings
        if not (item.path.resolve() in by_path and by_path[item.path.resolve()].disabled(item.rule))
    ]
    for file in files:
        for disable in file.disables:
            unknown = [name for name in disable.rules if name not in KNOWN_RULES]
            if unknown:
                message = _("disable names an unknown rule: {rules}").format(rules=", ".join(unknown))
                kept.append(
                    Finding(
                        file.path, disable.line, message, _("use a rule name from the report"), DISABLE_RULE
                    )
                )
            if not disable.reason:
                message = _("disable={rules} gives no reason").format(rules=",".join(disable.rules))
                kept.append(
                    Finding(
                        file.path,
                        disable.line,
                        message,
                        _("add `reason: <why>` to the comment"),
                        DISABLE_RULE,
                    )
                )
    return sorted(kept, key=lambda item: (str(item.path), item.line, item.rule))
