"""Findings, where each one links, and the three ways to print them: text, JSON, GitHub annotations."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from scryer_runbook import problems
from scryer_runbook.catalogue import SLUGS
from scryer_runbook.i18n import _

PAGE = "prevent-lint"  # the site page that explains every rule, one section (anchor) per rule
# rule -> (the runbook of the incident it prevents, the page to open until that runbook is in the catalogue).
# Slugs not in scryer_runbook.catalogue.SLUGS yet are runbooks still being written: the fallback serves until
# then.
LINKS = {
    "revision-id-too-long": ("version-too-long", f"{PAGE}/#revision-id-too-long"),
    "missing-downgrade": (None, "downgrade/"),
    "data-and-schema-change": ("migration-blocked", f"{PAGE}/#data-and-schema-change"),
    "multiple-heads": ("multiple-heads", f"{PAGE}/#multiple-heads"),
    "index-not-concurrent": ("concurrent-index", f"{PAGE}/#index-not-concurrent"),
    "concurrently-in-transaction": ("concurrent-index", f"{PAGE}/#concurrently-in-transaction"),
    "not-null-without-default": (None, f"{PAGE}/#not-null-without-default"),
    "rename": (None, f"{PAGE}/#rename"),
    "create-all": ("already-exists", f"{PAGE}/#create-all"),
    "lint-disable": (None, f"{PAGE}/#disable"),
    # squawk's rules whose incidents have a runbook; the others link squawk's own page.
    "adding-field-with-default": ("migration-blocked", None),
    "adding-foreign-key-constraint": ("migration-blocked", None),
    "adding-not-nullable-field": ("migration-blocked", None),
    "changing-column-type": ("migration-blocked", None),
    "constraint-missing-not-valid": ("migration-blocked", None),
    "disallowed-unique-constraint": ("migration-blocked", None),
    "require-concurrent-index-deletion": ("concurrent-index", None),
}


def link(rule: str, lang: str) -> str:
    slug, page = LINKS.get(rule, (None, None))
    if slug in SLUGS:
        return problems.runbook_url(slug, lang)
    if page is None:
        return f"https://squawkhq.com/docs/{rule}"
    return f"{problems.DOCS_URL}{'' if lang == 'zh' else '/en'}/{page}"


@dataclass
class Finding:
    path: Path
    line: int
    message: str
    advice: str
    rule: str = ""
    source: str = "scryer"  # or "squawk"
    revision: str | None = None  # None: application code

    def shown_path(self) -> str:
        return shown_path(self.path)


def shown_path(path: str | Path) -> str:
    """Relative to the current directory when inside it (what editors and GitHub annotations expect)."""
    try:
        return Path(path).resolve().relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return str(path)


@dataclass
class Report:
    project: str
    lang: str
    revisions: list[str] = field(default_factory=list)  # linted, oldest first
    findings: list[Finding] = field(default_factory=list)
    error: str | None = None  # why it could not run (exit 2)
    elapsed: float = 0.0

    @property
    def exit_code(self) -> int:
        return 2 if self.error else 1 if self.findings else 0

    def lines(self) -> list[str]:
        return [
            f"{item.shown_path()}:{item.line}: {item.rule}: {item.message} ({item.advice}) → "
            f"{link(item.rule, self.lang)}"
            for item in self.findings
        ]

    def summary(self) -> str:
        if self.error:
            return _("lint could not run: {error}").format(error=self.error)
        counts = {
            "findings": len(self.findings),
            "revisions": len(self.revisions),
            "ms": round(self.elapsed * 1000),
        }
        if self.findings:
            return _("{findings} finding(s) in {revisions} revision(s), {ms} ms").format(**counts)
        return _("no findings in {revisions} revision(s), {ms} ms").format(**counts)

    def as_dict(self) -> dict:
        return {
            "status": ("clean", "findings", "error")[self.exit_code],
            "exit_code": self.exit_code,
            "project": self.project,
            "lang": self.lang,
            "elapsed_ms": round(self.elapsed * 1000, 1),
            "error": self.error,
            "revisions": self.revisions,
            "findings": [
                {
                    "file": item.shown_path(),
                    "line": item.line,
                    "rule": item.rule,
                    "source": item.source,
                    "revision": item.revision,
                    "message": item.message,
                    "advice": item.advice,
                    "url": link(item.rule, self.lang),
                }
                for item in self.findings
            ],
        }

    def to_json(self) -> str:
        return json.dumps(self.as_dict(), indent=2, ensure_ascii=False)

    def github(self) -> list[str]:
        """Workflow commands: GitHub shows each as an annotation on the pull request's diff."""
        return [
            f"::warning file={_escape(item.shown_path(), True)},line={item.line},"
            f"title={_escape(item.rule, True)}::{_escape(f'{item.message} ({item.advice}) → ')}"
            f"{_escape(link(item.rule, self.lang))}"
            for item in self.findings
        ]


def _escape(text: str, property_value: bool = False) -> str:
    text = text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    return text.replace(":", "%3A").replace(",", "%2C") if property_value else text
