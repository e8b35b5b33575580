"""One word per idea: the glossary's table (docs/snippets/glossary.md, shown on both glossary pages) is the
convention, and the Chinese prose of docs/ and notebooks/ uses none of the words it rules out.

Code, inline code and quoted messages are not prose: PostgreSQL's own Chinese texts keep their wording."""

from __future__ import annotations

import json
import re

import pytest
from site_support import DOCS, REPO_ROOT, strip_code

TABLE = DOCS / "snippets" / "glossary.md"
ROW = re.compile(r"^\|(.+)\|[ \t]*$", re.M)
INLINE_CODE = re.compile(r"`[^`\n]*`")
SNIPPET = re.compile(r"^-{1,3}8<-{1,3}.*$", re.M)


def avoided() -> dict[str, str]:
    """variant -> the word to use instead (its row's 中文 column)."""
    rows = [
        [cell.strip() for cell in match.group(1).split("|")]
        for match in ROW.finditer(TABLE.read_text("utf-8"))
    ]
    return {variant: zh for _english, zh, avoid in rows[2:] for variant in re.findall(r"`([^`]+)`", avoid)}


def prose(markdown: str) -> str:
    return INLINE_CODE.sub("", SNIPPET.sub("", strip_code(markdown)))


def variants_in(markdown: str) -> list[str]:
    text = prose(markdown)
    return [f"{variant} → {preferred}" for variant, preferred in avoided().items() if variant in text]


def test_the_glossary_is_one_table_on_both_pages():
    assert len(avoided()) >= 10 and avoided()["沙盒"] == "沙箱"
    for lang in ("zh", "en"):
        assert '--8<-- "docs/snippets/glossary.md"' in (DOCS / f"glossary.{lang}.md").read_text("utf-8")


def test_the_check_sees_a_variant_in_prose_only():
    assert variants_in("在沙盒里复现") == ["沙盒 → 沙箱"]
    assert not variants_in("报错原文 `对模式 public 权限不够`\n\n```text\n沙盒\n```\n")


@pytest.mark.parametrize(
    "page",
    sorted(
        path.relative_to(DOCS).as_posix() for path in DOCS.rglob("*.zh.md") if path.name != "glossary.zh.md"
    ),
)
def test_the_pages_use_the_glossarys_words(page):
    assert not variants_in((DOCS / page).read_text("utf-8")), page


def notebook_variants() -> dict[str, list[str]]:
    found = {}
    for path in sorted((REPO_ROOT / "notebooks").glob("*.zh.ipynb")):
        cells = json.loads(path.read_text("utf-8"))["cells"]
        markdown = "\n\n".join("".join(cell["source"]) for cell in cells if cell["cell_type"] == "markdown")
        if variants_in(markdown):
            found[path.name] = variants_in(markdown)
    return found


def test_the_notebooks_use_the_glossarys_words():
    assert not notebook_variants(), notebook_variants()
