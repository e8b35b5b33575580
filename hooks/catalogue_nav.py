"""The runbooks' nav entries and their English titles, from the catalogue
(``scryer_runbook.catalogue.RUNBOOKS``).

mkdocs.yml lists no runbook: each catalogue entry becomes ``{title_zh: runbooks/<slug>.ipynb}`` at the end of
the section holding ``troubleshooting/index.md``, and ``title_zh: title_en`` joins the English language's
``nav_translations``. mkdocs-static-i18n reads those from its own plugin config when it builds each language's
nav, and its on_config runs at priority -100, so this on_config (priority 50) runs first; it runs again before
every language's build, and leaves the config as it would have written it by hand.
"""

from __future__ import annotations

import mkdocs.plugins

from scryer_runbook.catalogue import RUNBOOKS

SECTION_INDEX = "troubleshooting/index.md"


def _runbook_page(item) -> bool:
    return isinstance(item, dict) and any(str(page).startswith("runbooks/") for page in item.values())


def _section(nav: list) -> list | None:
    """The nav list that holds the troubleshooting index (searched depth-first)."""
    for item in nav:
        children = next(iter(item.values())) if isinstance(item, dict) else None
        if item == SECTION_INDEX or (isinstance(children, str) and children == SECTION_INDEX):
            return nav
        if isinstance(children, list) and (found := _section(children)) is not None:
            return found
    return None


@mkdocs.plugins.event_priority(50)
def on_config(config):
    section = _section(config.nav or [])
    if section is None:
        raise mkdocs.plugins.PluginError(f"catalogue_nav: no nav section holds {SECTION_INDEX}")
    section[:] = [item for item in section if not _runbook_page(item)]
    section.extend({entry.title_zh: f"runbooks/{entry.slug}.ipynb"} for entry in RUNBOOKS)
    i18n = config.plugins.get("i18n")
    for language in i18n.config.languages if i18n else ():
        if not language.default:
            translations = dict(language.nav_translations or {})
            translations.update({entry.title_zh: entry.title(language.locale) for entry in RUNBOOKS})
            language.nav_translations = translations
    return config
