"""The built site in a real browser (Debian's Chromium, headless), served on 127.0.0.1.

One browser per test session: the first worker that needs it runs the whole visit (home pages, a runbook page, the
language switcher both ways, every error text in both languages' search) and records what it saw; the tests below
check the record. Every request the browser makes is recorded too: none may leave 127.0.0.1.
Screenshots go to test-artifacts/.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
from site_support import (
    CHROMIUM,
    CHROMIUM_ARGS,
    LANGUAGES,
    REPO_ROOT,
    error_texts,
    once,
    serve,
    session_build,
    shared_dir,
    url_prefix,
)

ARTIFACTS = REPO_ROOT / "test-artifacts"
CJK = re.compile(r"[\u4e00-\u9fff]")
PLACEHOLDER = {"zh": "键入以开始搜索", "en": "Type to start searching"}
SITE_NAME = {"zh": "Scryer 数据库迁移手册", "en": "Scryer migration runbooks"}
DEEP_PAGES = ["troubleshooting/run-a-runbook/", "runbooks/permissions/"]
RUNBOOK_PAGE = "runbooks/already-exists/"
# Words a reader types, and a page that must come up in the top three for them (None: found at all; "downgrade" is
# now taught by the database-ahead and version-too-long runbooks too, which rank as high as the Downgrading page).
WORDS = {
    "zh": {
        "relation": "runbooks/already-exists/",
        "迁移": None,
        "权限": "runbooks/permissions/",
        "降级": "downgrade/",
        "幂等": "best-practices/",
    },
    "en": {
        "relation": "runbooks/already-exists/",
        "downgrade": None,
        "idempotent": "best-practices/",
        "permission": "runbooks/permissions/",
    },
}
MISSING_CHROMIUM = (
    f"Chromium is not installed at {CHROMIUM}: the browser tests need it. Install it with "
    "`apt-get install chromium fonts-noto-cjk` (`make test` does this when run as root)."
)


def site_path(url: str) -> str:
    """/en/runbooks/x/?h=... -> en/runbooks/x/ (the path within the site, no query)."""
    return unquote(urlsplit(url).path).lstrip("/")


def visit(site: Path) -> dict:
    """Everything the browser tests look at, in one browser session."""
    record: dict = {
        "error": None,
        "requests": [],
        "bad_responses": [],
        "page_errors": [],
        "pages": {},
        "switches": [],
        "search": {},
        "words": {},
    }
    if not Path(CHROMIUM).exists():
        record["error"] = MISSING_CHROMIUM
        return record
    from playwright.sync_api import sync_playwright  # noqa: PLC0415 - only when there is a browser to drive

    ARTIFACTS.mkdir(exist_ok=True)
    started = time.monotonic()
    try:
        with serve(site) as base, sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            context = browser.new_context(viewport={"width": 1280, "height": 900})
            context.on("request", lambda request: record["requests"].append(request.url))
            context.on(
                "response",
                lambda response: response.status >= 400
                and record["bad_responses"].append([response.url, response.status]),
            )
            page = context.new_page()
            page.on("pageerror", lambda error: record["page_errors"].append(str(error)))

            for lang in LANGUAGES:
                page.goto(base + url_prefix(lang))
                page.wait_for_load_state("load")
                record["pages"][f"home-{lang}"] = {
                    "lang": page.get_attribute("html", "lang"),
                    "h1": page.inner_text("article h1").replace("¶", "").strip(),
                    "site_name": page.inner_text(".md-header__topic:first-child"),
                    "nav": page.inner_text("nav.md-nav--primary"),
                }
                page.screenshot(path=str(ARTIFACTS / f"home-{lang}.png"), full_page=True)

                page.goto(base + url_prefix(lang) + RUNBOOK_PAGE)
                page.wait_for_load_state("load")
                download = page.locator("a[download]").first
                record["pages"][f"runbook-{lang}"] = {
                    "lang": page.get_attribute("html", "lang"),
                    "h1": page.inner_text("article h1").replace("¶", "").strip(),
                    "cells": page.locator(".jp-Cell").count(),
                    "visible_cells": page.locator(".jp-Cell:visible").count(),
                    "download": download.get_attribute("href") if download.count() else None,
                }
                page.screenshot(path=str(ARTIFACTS / f"runbook-{lang}.png"), full_page=False)

            for deep in DEEP_PAGES:  # the switcher, both ways, on pages below the home page
                for lang, other in (("zh", "en"), ("en", "zh")):
                    page.goto(base + url_prefix(lang) + deep)
                    page.wait_for_load_state("load")
                    page.hover(".md-header__option .md-select")
                    page.click(f".md-select__link[hreflang={other}]")
                    page.wait_for_url(
                        lambda url: site_path(url).rstrip("/") != (url_prefix(lang) + deep).rstrip("/")
                    )
                    page.wait_for_load_state("load")
                    record["switches"].append(
                        {
                            "from": url_prefix(lang) + deep,
                            "to": site_path(page.url),
                            "lang": page.get_attribute("html", "lang"),
                        }
                    )

            for lang in LANGUAGES:
                page.goto(base + url_prefix(lang))
                page.wait_for_load_state("load")
                search = page.locator("input.md-search__input")
                meta = page.locator(".md-search-result__meta")
                search.click()
                meta.filter(has_text=PLACEHOLDER[lang]).wait_for(timeout=15000)  # the worker has the index

                def query(text: str) -> list[list[str]]:
                    search.fill(text)
                    search.press("End")  # Material searches on keyup
                    page.wait_for_function(
                        "([el, placeholder]) => el.textContent.trim() !== placeholder",
                        arg=[meta.element_handle(), PLACEHOLDER[lang]],
                    )
                    items = page.eval_on_selector_all(
                        "li.md-search-result__item",
                        "items => items.map(item => [...item.querySelectorAll('a.md-search-result__link')]"
                        ".map(a => a.href))",
                    )
                    search.fill("")
                    search.press("End")
                    meta.filter(has_text=PLACEHOLDER[lang]).wait_for()
                    return [
                        [
                            site_path(url)
                            + ("#" + unquote(urlsplit(url).fragment) if urlsplit(url).fragment else "")
                            for url in links
                        ]
                        for links in items
                    ]

                record["search"][lang] = {
                    slug: {text: query(text) for text in texts} for slug, texts in error_texts(lang).items()
                }
                record["words"][lang] = {word: query(word) for word in WORDS[lang]}
            browser.close()
    except Exception as error:  # noqa: BLE001 - recorded, and every browser test fails with it
        record["error"] = f"the browser visit failed: {type(error).__name__}: {error}"
    record["seconds"] = time.monotonic() - started
    return record


@pytest.fixture(scope="session")
def seen(tmp_path_factory, worker_id):
    build = session_build(tmp_path_factory, worker_id)
    if build.returncode:
        pytest.fail(f"the site did not build:\n{build.output[-3000:]}")
    record = once(shared_dir(tmp_path_factory, worker_id), "browser-visit", lambda: visit(build.site))
    if record["error"]:
        pytest.fail(record["error"])
    return record


def rank(results: list[list[str]], lang: str, slug: str) -> int | None:
    """1-based position of the right page among the first three results, else None.

    Right: the runbook for this failure, or the troubleshooting index with this failure's section (or one of its
    subsections) as its best match.
    """
    prefix = url_prefix(lang)
    for position, links in enumerate(results[:3], 1):
        page, best_section = links[0].split("#")[0], (links[1] if len(links) > 1 else links[0])
        if page == f"{prefix}runbooks/{slug}/":
            return position
        section = best_section.partition("#")[2]
        if page == f"{prefix}troubleshooting/" and (section == slug or section.startswith(f"{slug}-")):
            return position
    return None


def test_chromium_is_installed():
    assert Path(CHROMIUM).exists(), MISSING_CHROMIUM


@pytest.mark.parametrize("lang", LANGUAGES)
def test_home_page_renders(seen, lang):
    home = seen["pages"][f"home-{lang}"]
    assert home["lang"] == lang
    assert home["site_name"].strip() == SITE_NAME[lang]
    assert home["h1"] == {"zh": "Alembic 数据库迁移工作流", "en": "Alembic migration workflow"}[lang]
    assert {"zh": "故障排查", "en": "Troubleshooting"}[lang] in home["nav"]
    assert (ARTIFACTS / f"home-{lang}.png").stat().st_size > 10_000


@pytest.mark.parametrize("lang", LANGUAGES)
def test_runbook_page_renders_the_notebook(seen, lang):
    runbook = seen["pages"][f"runbook-{lang}"]
    assert runbook["lang"] == lang
    assert runbook["cells"] > 3 and runbook["visible_cells"] > 3, runbook
    assert runbook["download"] == f"already-exists.{lang}.ipynb"
    assert (ARTIFACTS / f"runbook-{lang}.png").stat().st_size > 10_000


def test_language_switcher_keeps_the_reader_on_the_same_page(seen):
    assert len(seen["switches"]) == 2 * len(DEEP_PAGES)
    for switch in seen["switches"]:
        source = switch["from"]
        lang = "en" if source.startswith("en/") else "zh"
        other = "zh" if lang == "en" else "en"
        expected = url_prefix(other) + source.removeprefix(url_prefix(lang))
        assert switch["to"] == expected, switch
        assert switch["lang"] == other, switch


@pytest.mark.parametrize("lang", LANGUAGES)
def test_search_puts_the_right_page_in_the_top_three_for_every_error_text(seen, lang):
    ranks, misses = {}, []
    for slug, texts in seen["search"][lang].items():
        for text, results in texts.items():
            position = rank(results, lang, slug)
            ranks[text] = position
            if position is None:
                misses.append((slug, text, results[:3]))
            for links in results:  # results stay in the reader's language
                assert all(link.startswith("en/") == (lang == "en") for link in links), (text, links)
    (ARTIFACTS / f"search-ranks-{lang}.json").write_text(json.dumps(ranks, ensure_ascii=False, indent=1))
    assert len(ranks) >= 20
    assert not misses, misses


def test_a_chinese_servers_errors_find_their_section_first(seen):
    """Lines a server with lc_messages = 'zh_CN.UTF-8' prints (docs/snippets/server-errors.zh/, captured from a
    real one), pasted into the 中文 search: the right runbook or troubleshooting section is the first result."""
    chinese = {
        slug: [text for text in texts if CJK.search(text)] for slug, texts in error_texts("zh").items()
    }
    assert sum(map(len, chinese.values())) >= 10, chinese
    wrong = {
        text: seen["search"]["zh"][slug][text][:2]
        for slug, texts in chinese.items()
        for text in texts
        if rank(seen["search"]["zh"][slug][text], "zh", slug) != 1
    }
    assert not wrong, wrong
    assert '致命错误:  数据库 "scryer" 不存在' in chinese["not-ready"]


@pytest.mark.parametrize("lang", LANGUAGES)
def test_search_finds_chinese_and_english_words(seen, lang):
    for word, expected in WORDS[lang].items():
        results = seen["words"][lang][word]
        assert results, f"{lang}: nothing found for {word!r}"
        if expected:
            top = [links[0].split("#")[0] for links in results[:3]]
            assert url_prefix(lang) + expected in top, (word, top)


def test_no_request_leaves_127_0_0_1(seen):
    assert len(seen["requests"]) > 20
    elsewhere = [
        url
        for url in seen["requests"]
        if urlsplit(url).scheme not in ("data", "blob") and urlsplit(url).hostname != "127.0.0.1"
    ]
    assert not elsewhere, elsewhere


def test_nothing_is_missing_and_no_script_fails(seen):
    # Material asks each alternate language's address for a sitemap.xml (only the root has one): harmless 404s.
    missing = [entry for entry in seen["bad_responses"] if not entry[0].endswith("/sitemap.xml")]
    assert not missing, missing
    assert not seen["page_errors"], seen["page_errors"]
