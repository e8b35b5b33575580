"""The catalogue is the one list of runbooks: every slug has all its files, and everything else follows from
it.

A slug added to ``catalogue.RUNBOOKS`` without its notebooks, scenario, error-index sections, test file or
README rows fails here, naming each missing piece (see CONTRIBUTING.md, "Add a runbook").
"""

from __future__ import annotations

import re

import pytest
from mkdocs.config import load_config

from scryer_runbook import catalogue, checks
from scryer_runbook.project import REPO_ROOT

LANGUAGES = ("zh", "en")
READMES = {"zh": REPO_ROOT / "README.zh.md", "en": REPO_ROOT / "README.md"}


def troubleshooting_section(slug: str, lang: str) -> str | None:
    """The text of ``## ... {#slug}`` in the error index, up to the next ``## `` heading; None when absent."""
    text = (REPO_ROOT / "docs" / "troubleshooting" / f"index.{lang}.md").read_text(encoding="utf-8")
    found = re.search(rf"(?m)^## .*\{{#{re.escape(slug)}\}}\s*$(.*?)(?=^## |\Z)", text, re.S)
    return found[1] if found else None


def missing_pieces(slug: str) -> list[str]:
    """What a runbook needs besides its catalogue entry and lacks (one line each, naming it)."""
    module = slug.replace("-", "_")
    missing = [
        f"notebooks/{slug}.{lang}.ipynb"
        for lang in LANGUAGES
        if not (REPO_ROOT / "notebooks" / f"{slug}.{lang}.ipynb").is_file()
    ]
    for path in (f"src/scryer_runbook/scenarios/{module}.py", f"tests/test_runbook_{module}.py"):
        if not (REPO_ROOT / path).is_file():
            missing.append(path)
    missing += [
        f"docs/troubleshooting/index.{lang}.md: a section '## ... {{#{slug}}}'"
        for lang in LANGUAGES
        if troubleshooting_section(slug, lang) is None
    ]
    missing += [
        f"{READMES[lang].name}: a row for notebooks/{slug}.*.ipynb in the runbook table"
        for lang in LANGUAGES
        if f"`notebooks/{slug}.*.ipynb`" not in READMES[lang].read_text(encoding="utf-8")
    ]
    return missing


def test_every_runbook_has_all_its_files():
    missing = {slug: missing_pieces(slug) for slug in catalogue.SLUGS}
    assert not any(missing.values()), "\n".join(
        f"{slug}: missing {piece}" for slug, pieces in missing.items() for piece in pieces
    )


def test_a_new_slug_is_told_every_file_it_lacks():
    assert missing_pieces("migration-hangs") == [
        "notebooks/migration-hangs.zh.ipynb",
        "notebooks/migration-hangs.en.ipynb",
        "src/scryer_runbook/scenarios/migration_hangs.py",
        "tests/test_runbook_migration_hangs.py",
        "docs/troubleshooting/index.zh.md: a section '## ... {#migration-hangs}'",
        "docs/troubleshooting/index.en.md: a section '## ... {#migration-hangs}'",
        "README.zh.md: a row for notebooks/migration-hangs.*.ipynb in the runbook table",
        "README.md: a row for notebooks/migration-hangs.*.ipynb in the runbook table",
    ]


@pytest.mark.parametrize("lang", LANGUAGES)
@pytest.mark.parametrize("entry", catalogue.RUNBOOKS, ids=lambda entry: entry.slug)
def test_the_error_texts_are_in_the_runbooks_section(entry, lang):
    """A pasted error message finds its runbook: its error texts are quoted in its error-index section."""
    section = troubleshooting_section(entry.slug, lang) or ""
    absent = [text for text in entry.errors if text not in section]
    assert not absent, f"docs/troubleshooting/index.{lang}.md #{entry.slug} does not quote: {absent}"


def test_finding_keys_name_real_checks_and_are_unique():
    keys = [key for entry in catalogue.RUNBOOKS for key in entry.findings]
    assert len(keys) == len(set(keys)), keys
    assert not [key for key in keys if key.partition(":")[0] not in checks.REGISTRY], checks.REGISTRY.keys()


def test_the_more_specific_finding_key_wins():
    overlap = checks.Check(checks.FAIL, "x", kind="overlap", id="version-table")
    assert overlap.link == "multiple-heads"
    unknown = checks.Check(
        checks.FAIL, "x", kind="unknown-revision", page="troubleshooting", id="version-table"
    )
    assert unknown.link == catalogue.runbook_for("version-table:unknown-revision") or "troubleshooting"
    behind = checks.Check(checks.FAIL, "x", kind="behind", page="run-migrations", id="revision")
    assert behind.link == "run-migrations"  # no runbook: the guide's page
    assert checks.Check(checks.FAIL, "x", id="drift").link == "autogenerate-drift"
    assert checks.Check(checks.OK, "x", id="drift").link is None


def test_the_site_nav_comes_from_the_catalogue():
    """mkdocs.yml lists no runbook; the hook adds one nav entry per catalogue entry, and its English title."""
    assert "runbooks/" not in (REPO_ROOT / "mkdocs.yml").read_text(encoding="utf-8").split("\nnav:")[1]
    config = load_config(str(REPO_ROOT / "mkdocs.yml"))
    hook = config.plugins["hooks/catalogue_nav.py"]
    for _ in range(2):  # once per language build: the hook must not add the entries twice
        hook.on_config(config)
    troubleshooting = next(item for item in config.nav if "故障排查" in item)["故障排查"]
    runbooks = [
        item
        for item in troubleshooting
        if isinstance(item, dict) and str(next(iter(item.values()))).startswith("runbooks/")
    ]
    assert runbooks == [{entry.title_zh: f"runbooks/{entry.slug}.ipynb"} for entry in catalogue.RUNBOOKS]
    english = next(
        language for language in config.plugins["i18n"].config.languages if language.locale == "en"
    )
    assert all(english.nav_translations[entry.title_zh] == entry.title_en for entry in catalogue.RUNBOOKS)
    assert english.nav_translations["故障排查"] == "Troubleshooting"  # the hand-written ones are kept
