"""The runbook notebooks as files: both languages, the same code, a papermill parameters cell, clean outputs.

nbmake executes them (see pyproject's addopts); these checks keep the committed files honest.
"""

import ast
import io
import re
import tokenize

import nbformat
import pytest

from scryer_runbook import i18n
from scryer_runbook.notebooks import NOTEBOOKS
from scryer_runbook.problems import RUNBOOKS

PARAMETERS = {"target_url": "None", "target_url_env": "None", "alembic_ini": "None", "apply_fix": "False"}
# What must never be committed: a password in a URL or setting, a path of the machine that ran the notebook,
# a scratch name or port the normaliser should have replaced.
LEAKS = re.compile(
    r"://[^:/@\s\"']+:(?!\*\*\*)[^@\s\"']+@|PGPASSWORD=\w|/work/|/root/|/home/|/tmp/pytest|"
    r"scry_[0-9a-f]{6}_|(?<!http://)127\.0\.0\.1:(?!5432\b)\d+"
)


def load(slug, lang):
    return nbformat.read(NOTEBOOKS / f"{slug}.{lang}.ipynb", as_version=4)


def code_without_comments(source: str) -> str:
    """The code as Python sees it: comments are translated, and the `lang` parameter is each edition's own."""
    tokens = [
        token
        for token in tokenize.generate_tokens(io.StringIO(source).readline)
        if token.type != tokenize.COMMENT
    ]
    code = tokenize.untokenize(tokens)
    return "\n".join(line.rstrip() for line in code.splitlines() if not re.match(r"lang = ", line))


@pytest.mark.parametrize("slug", RUNBOOKS)
def test_both_languages_have_the_same_cells_and_identical_code(slug):
    zh, en = load(slug, "zh"), load(slug, "en")
    assert [c.cell_type for c in zh.cells] == [c.cell_type for c in en.cells]
    assert [code_without_comments(c.source) for c in zh.cells if c.cell_type == "code"] == [
        code_without_comments(c.source) for c in en.cells if c.cell_type == "code"
    ]
    headings = [
        [line.split(" ")[0] for line in c.source.splitlines() if line.startswith("#")]
        for nb in (zh, en)
        for c in nb.cells
        if c.cell_type == "markdown"
    ]
    assert headings[: len(headings) // 2] == headings[len(headings) // 2 :], "heading levels differ"
    assert re.search(r"[\u4e00-\u9fff]", zh.cells[0].source), "the zh title is not Chinese"
    assert not re.search(r"[\u4e00-\u9fff]", "".join(c.source for c in en.cells)), (
        "Chinese text in the en notebook"
    )
    assert not re.search(r"[\u4e00-\u9fff]", nbformat.writes(en)), "Chinese output in the en notebook"


@pytest.mark.parametrize("slug", RUNBOOKS)
def test_parameters_cell_lets_papermill_point_it_at_a_real_database(slug):
    cells = [c for c in load(slug, "zh").cells if "parameters" in c.metadata.get("tags", [])]
    assert len(cells) == 1
    assigned = dict(re.findall(r"^(\w+)\s*=\s*(\S+)", cells[0].source, re.M))
    assert {name: assigned.get(name) for name in PARAMETERS} == PARAMETERS
    for lang in ("zh", "en"):
        (cell,) = [c for c in load(slug, lang).cells if "parameters" in c.metadata.get("tags", [])]
        assert f'lang = "{lang}"' in cell.source, f"{slug}.{lang}: the lang parameter must be {lang!r}"


@pytest.mark.parametrize("lang", ["zh", "en"])
@pytest.mark.parametrize("slug", RUNBOOKS)
def test_committed_outputs_come_from_a_real_run_and_leak_nothing(slug, lang):
    nb = load(slug, lang)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.execution_count for c in code), "not executed: run `make notebooks`"
    assert not any(o.get("output_type") == "error" for c in code for o in c.outputs), (
        "committed with an error"
    )
    text = nbformat.writes(nb)
    assert not LEAKS.findall(text)


@pytest.mark.parametrize("slug", RUNBOOKS)
def test_every_line_a_notebook_says_has_its_chinese(slug):
    """What a runbook prints goes through rb.say(msgid): each msgid needs its 中文 in locale/zh/*.po."""
    catalogue = i18n.translations("zh")
    said = [
        node.args[0].value
        for cell in load(slug, "en").cells
        if cell.cell_type == "code"
        for node in ast.walk(ast.parse(cell.source))
        if isinstance(node, ast.Call)
        and getattr(node.func, "attr", None) == "say"
        and node.args
        and isinstance(node.args[0], ast.Constant)
    ]
    untranslated = [msgid for msgid in said if catalogue.gettext(msgid) == msgid]
    assert not untranslated, f"{slug}: no 中文 for {untranslated}"


@pytest.mark.parametrize("slug", RUNBOOKS)
def test_the_chinese_notebook_prints_chinese(slug):
    """No line the catalogue translates appears in English in the zh notebook's committed outputs."""
    catalogue = i18n.translations("zh")
    printed = "\n".join(
        output.get("text", "")
        for cell in load(slug, "zh").cells
        if cell.cell_type == "code"
        for output in cell.outputs
    )
    english = [
        msgid
        for msgid in catalogue._catalog
        if isinstance(msgid, str) and msgid and catalogue.gettext(msgid) != msgid
    ]
    leading = {re.split(r"[{\n(:]", msgid)[0].strip(): catalogue.gettext(msgid) for msgid in english}
    found = sorted(
        text
        for text, chinese in leading.items()  # identifiers both editions print are fine
        if len(text) >= 12 and text in printed and not chinese.startswith(text)
    )
    assert not found, f"{slug}.zh prints English: {found}"
