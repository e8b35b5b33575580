"""The Chinese-server texts the troubleshooting pages quote are what a real server prints, captured again here.

scripts/capture_server_errors.py provokes each error on a server with lc_messages = 'zh_CN.UTF-8' and writes the
lines to docs/snippets/server-errors.zh/<section>.txt; both languages' troubleshooting pages include them in that
section, so a Chinese server's error pasted into the search finds its section (tests/test_browser.py)."""

from __future__ import annotations

import importlib.util

import pytest
from site_support import LANGUAGES, REPO_ROOT, error_texts

SCRIPT = REPO_ROOT / "scripts" / "capture_server_errors.py"


def capture_script():
    spec = importlib.util.spec_from_file_location("capture_server_errors", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def committed() -> dict[str, list[str]]:
    folder = REPO_ROOT / "docs" / "snippets" / "server-errors.zh"
    return {path.stem: path.read_text(encoding="utf-8").splitlines() for path in sorted(folder.glob("*.txt"))}


@pytest.mark.slow  # a Chinese-locale server of its own
def test_the_snippets_are_what_a_chinese_server_prints_today():
    script = capture_script()
    fresh = script.render(script.capture())
    assert sorted(fresh) == sorted(script.SNIPPETS.glob("*.txt"))
    for path, text in fresh.items():
        assert text == path.read_text(encoding="utf-8"), (
            f"{path.relative_to(REPO_ROOT)} is out of date: run {SCRIPT.relative_to(REPO_ROOT)}\n{text}"
        )


def test_the_texts_are_chinese_and_cover_the_server_side_sections():
    sections = committed()
    assert set(sections) == {
        "already-exists",
        "not-ready",
        "permissions",
        "concurrent-migrations",
        "migration-blocked",
    }
    for section, lines in sections.items():
        assert lines and all(line.startswith(("错误:  ", "致命错误:  ")) for line in lines), (section, lines)
    assert '致命错误:  数据库 "scryer" 不存在' in sections["not-ready"]


def test_both_troubleshooting_pages_quote_them_in_their_section():
    for lang in LANGUAGES:
        quoted = error_texts(lang)
        for section, lines in committed().items():
            assert set(lines) <= set(quoted[section]), (lang, section)
