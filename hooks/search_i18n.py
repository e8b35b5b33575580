"""One search index per language, without code annotation markers, with boosted sections.

mkdocs-static-i18n stacks every language's entries into a single ``search/search_index.json``, so a reader of the
English site searching a pasted error message got the Chinese pages too (often first: they quote the same text).
After the last language is built, this hook splits that index: ``search/search_index.json`` keeps the default
language, ``<lang>/search/search_index.json`` gets each other language with its locations made relative to
``<lang>/``, and every page of that language points Material's ``base`` (where it loads the index from and what
result links are relative to) at ``<lang>/``.

Section boosts: Material boosts whole pages only (``search.boost`` in the front matter). A heading written
``## Title {#anchor data-search-boost="10"}`` boosts its own section, so that a pasted error message lands on the
section that quotes and explains it (the troubleshooting index's "symptoms" sections), and not on a long page that
merely contains the same common words.

Chinese lines quoted in code (a Chinese-locale server's errors) are indexed a second time the way a pasted copy is
parsed. jieba segments the index; the browser splits a query's Chinese runs into words the index knows and then
turns a quoted word into a required term, glued to the next word when no space follows
(``访问数据库"scryer"的权限不够`` → ``+scryer的*``). Lunr finds a required wildcard term only when the index holds
it exactly, so each quoted word is also indexed glued to every start of the Chinese text that follows it.
"""

from __future__ import annotations

import html
import json
import posixpath
import re
from pathlib import Path

from mkdocs.plugins import event_priority

# Code annotation markers ("alembic current # (1)!") are not content: a "(2)" in the index made a pasted
# "[Errno -2]" (Lunr reads "-2" as "must not contain 2") exclude every section with two annotations.
_ANNOTATION = re.compile(r"[ \t]*(?:#|--|//)[ \t]*\(\d+\)!?(?=\n|<|$)")
_HEADING = re.compile(r"<h[1-6]\b[^>]*>")
_SECTION_BOOSTS: dict[str, float] = {}  # location ("en/troubleshooting/#not-ready-symptoms") -> boost
_CODE = re.compile(r"<code>(.*?)</code>", re.S)
_CJK = re.compile(r"[\u4e00-\u9fff]")
_QUOTED = re.compile(r'"([^"\s]+)"')
_GLUED = re.compile(r'"([^"\s]+)"([\u4e00-\u9fff]+)')
_CONFIG = re.compile(r'(<script id="__config" type="application/json">)(.*?)(</script>)', re.S)


def _as_pasted(text: str) -> str:
    """The Chinese lines in ``text``'s code, unsegmented, also with each quoted word as Material's query parser
    leaves it (the quotes become a space before the word, none after), and the glued terms."""
    lines = [
        html.unescape(line.replace("\u200b", ""))
        for code in _CODE.findall(text)
        for line in code.splitlines()
        if _CJK.search(line)
    ]
    glued = [
        word + run[:end]
        for line in lines
        for word, run in _GLUED.findall(line)
        for end in range(1, len(run) + 1)
    ]
    return " ".join(lines + [_QUOTED.sub(r" \1", line) for line in lines if '"' in line] + glued)


def _languages(config) -> tuple[str | None, list[str]]:
    """(the i18n plugin, the prefixes of the non-default languages), e.g. ["en"]."""
    i18n = config.plugins.get("i18n")
    if i18n is None:
        return None, []
    return i18n, [lang for lang in i18n.build_languages if lang != i18n.default_language]


def _page_language(page, others: list[str]) -> str | None:
    first = page.file.dest_uri.split("/", 1)[0]
    return first if first in others else None


def on_page_content(html, page, config, files):
    """Remember the boosted headings (Material strips data-search-* attributes from the page afterwards)."""
    for tag in _HEADING.findall(html):
        boost, anchor = re.search(r'data-search-boost="([\d.]+)"', tag), re.search(r'\bid="([^"]+)"', tag)
        if boost and anchor:
            _SECTION_BOOSTS[f"{page.url}#{anchor.group(1)}"] = float(boost.group(1))
    return html


@event_priority(-110)  # after static-i18n's on_post_page
def on_post_page(output, page, config):
    _, others = _languages(config)
    lang = _page_language(page, others)
    if lang is None:
        return output

    def rebase(match):
        data = json.loads(match.group(2))
        here = posixpath.dirname(page.file.dest_uri) or "."
        data["base"] = posixpath.relpath(lang, here) + "/"
        return match.group(1) + json.dumps(data, ensure_ascii=False) + match.group(3)

    return _CONFIG.sub(rebase, output, count=1)


@event_priority(
    -110
)  # after static-i18n's on_post_build, which builds the other languages and stacks the index
def on_post_build(config):
    i18n, others = _languages(config)
    if i18n is None or i18n.building:  # an inner, per-language build: the stacked index is written after it
        return
    path = Path(config.site_dir) / "search" / "search_index.json"
    if not path.exists():
        return
    index = json.loads(path.read_text(encoding="utf-8"))
    per_language: dict[str | None, list] = {lang: [] for lang in [None, *others]}
    seen: dict[str, dict] = {}
    for doc in index["docs"]:
        # Locations must be unique (they are the Lunr refs, and the worker's highlighting tables are keyed by them):
        # a section that repeats its page's location is merged into the first entry.
        if doc["location"] in seen:
            first_entry = seen[doc["location"]]
            first_entry["text"] = " ".join(filter(None, [first_entry["text"], doc["text"]]))
            continue
        seen[doc["location"]] = doc
        doc["text"] = _ANNOTATION.sub("", doc["text"])
        pasted = _as_pasted(doc["text"])
        if pasted:
            doc["text"] += f" {pasted}"
        if doc["location"] in _SECTION_BOOSTS:
            doc["boost"] = doc.get("boost", 1) * _SECTION_BOOSTS[doc["location"]]
        first = doc["location"].split("/", 1)[0]
        if first in others:
            doc["location"] = doc["location"][len(first) + 1 :]
            per_language[first].append(doc)
        else:
            per_language[None].append(doc)
    for lang, docs in per_language.items():
        target = path if lang is None else Path(config.site_dir) / lang / "search" / "search_index.json"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(
            json.dumps({**index, "docs": docs}, ensure_ascii=False, separators=(",", ":")), encoding="utf-8"
        )
