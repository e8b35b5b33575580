"""中文 and English pages mirror each other: same pages, headings, code, links, callouts and tables.

中文 is the source; the English edition is a translation, so everything that is not prose must be identical.
(The runbook notebooks have their own parity tests, tests/test_notebooks.py.)
"""

from __future__ import annotations

import re

import pytest
from site_support import FENCE, HEADING, REPO_ROOT, code_blocks, page_sources, strip_code

ZH, EN = page_sources("zh"), page_sources("en")
PAGES = sorted(set(ZH) | set(EN))
CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff\u3000-\u303f\uff00-\uffef]")
LINK = re.compile(r"(?<!!)\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
HEADING_ID = re.compile(r"^#{1,6}[ \t].*\{#([\w-]+)([^}]*)\}[ \t]*$", re.M)
ADMONITION = re.compile(r"^[ \t]*(!!!|\?\?\?\+?)[ \t]+([\w-]+)", re.M)
TAB = re.compile(r"^[ \t]*===[ \t]+\"", re.M)
TABLE_ROW = re.compile(r"^[ \t]*\|.*\|[ \t]*$", re.M)
FRONT_MATTER = re.compile(r"\A---\n(.*?)\n---\n", re.S)


def read(pages: dict, name: str) -> str:
    return pages[name].read_text(encoding="utf-8")


def headings(markdown: str) -> list[int]:
    return [len(m.group(1)) for m in HEADING.finditer(strip_code(markdown))]


def links(markdown: str) -> list[str]:
    return sorted(LINK.findall(strip_code(markdown)))


def test_every_page_exists_in_both_languages():
    assert ZH, "no 中文 pages found"
    assert set(ZH) == set(EN), {
        "only 中文": sorted(set(ZH) - set(EN)),
        "only English": sorted(set(EN) - set(ZH)),
    }


@pytest.mark.parametrize("page", PAGES)
def test_same_heading_structure(page):
    zh, en = headings(read(ZH, page)), headings(read(EN, page))
    assert zh, f"{page}: no headings"
    assert zh == en, f"{page}: heading levels differ (中文 {zh}, English {en})"
    assert zh.count(1) == 1, f"{page}: expected exactly one level-1 heading"


@pytest.mark.parametrize("page", PAGES)
def test_same_heading_ids(page):
    assert HEADING_ID.findall(read(ZH, page)) == HEADING_ID.findall(read(EN, page))


@pytest.mark.parametrize("page", PAGES)
def test_identical_code_blocks(page):
    # Real command output may exist per language (the doctor's links point at the reader's edition):
    # `doctor-findings-zh.txt` on a 中文 page stands where `doctor-findings.txt` stands on the English one.
    zh = [(info, body.replace('-zh.txt"', '.txt"')) for info, body in code_blocks(read(ZH, page))]
    en = code_blocks(read(EN, page))
    assert len(zh) == len(en), f"{page}: {len(zh)} code blocks in 中文, {len(en)} in English"
    for number, (a, b) in enumerate(zip(zh, en, strict=True), 1):
        assert a == b, f"{page}: code block {number} differs"


@pytest.mark.parametrize("page", PAGES)
def test_code_blocks_hold_no_prose(page):
    """Explanations go into annotations or text, so the code can stay identical: no Chinese inside code."""
    for info, body in code_blocks(read(ZH, page)):
        assert not CJK.search(body), f"{page}: Chinese text inside a ```{info} block: {body[:80]!r}"


@pytest.mark.parametrize("page", PAGES)
def test_same_link_targets(page):
    zh, en = links(read(ZH, page)), links(read(EN, page))
    assert zh == en, (
        f"{page}: links differ: only 中文 {sorted(set(zh) - set(en))}, only English {sorted(set(en) - set(zh))}"
    )


@pytest.mark.parametrize("page", PAGES)
def test_same_callouts_tabs_and_tables(page):
    zh, en = strip_code(read(ZH, page)), strip_code(read(EN, page))
    assert [kind for _, kind in ADMONITION.findall(zh)] == [kind for _, kind in ADMONITION.findall(en)]
    assert len(TAB.findall(zh)) == len(TAB.findall(en))
    assert len(TABLE_ROW.findall(zh)) == len(TABLE_ROW.findall(en)), f"{page}: table rows differ"


@pytest.mark.parametrize("page", PAGES)
def test_same_front_matter(page):
    zh, en = FRONT_MATTER.match(read(ZH, page)), FRONT_MATTER.match(read(EN, page))
    assert (zh and zh.group(1)) == (en and en.group(1))


@pytest.mark.parametrize("page", PAGES)
def test_each_edition_is_in_its_language(page):
    zh_prose, en_prose = strip_code(read(ZH, page)), strip_code(read(EN, page))
    assert CJK.search(zh_prose), f"{page}: the 中文 page has no Chinese text"
    # The English edition may name the languages on tabs (=== "中文"), nothing else in Chinese.
    leftover = [line for line in en_prose.splitlines() if CJK.search(line) and not TAB.match(line)]
    assert not leftover, f"{page}: Chinese text in the English page: {leftover[:3]}"


def test_parity_checks_can_fail():
    """The comparisons above notice a difference (guards against a regex that matches nothing)."""
    sample = "# T\n\n## A {#a}\n\n```bash\nalembic current\n```\n\n[x](a.md)\n"
    changed = sample.replace("## A", "### A").replace("current", "heads").replace("a.md", "b.md")
    assert headings(sample) != headings(changed)
    assert code_blocks(sample) != code_blocks(changed)
    assert links(sample) != links(changed)
    assert FENCE.search(sample)


def readme_commands(markdown: str) -> list[tuple[str, str]]:
    """Code blocks without shell comments, with each edition's notebook language made the same."""
    return [
        (info, re.sub(r"[ \t]+#[^\n]*", "", body).replace(".zh.ipynb", ".en.ipynb"))
        for info, body in code_blocks(markdown)
    ]


def test_the_readme_exists_in_both_languages_with_the_same_structure():
    """README.md and README.zh.md are one document in two languages: same headings, commands, links and tables.

    Shell comments are translated, each edition runs its own language's notebook, and only the language switch at
    the top links differently."""
    en = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    zh = (REPO_ROOT / "README.zh.md").read_text(encoding="utf-8")
    assert headings(zh) == headings(en)
    assert readme_commands(zh) == readme_commands(en)
    assert len(TABLE_ROW.findall(strip_code(zh))) == len(TABLE_ROW.findall(strip_code(en)))
    switch = {"README.md", "README.zh.md"}
    assert [t for t in links(zh) if t not in switch] == [t for t in links(en) if t not in switch]
    assert "README.zh.md" in links(en) and "README.md" in links(zh)
