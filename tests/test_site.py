"""The built site: a strict build, notebooks as real pages in both languages, search that keeps every word,
nothing loaded from another host, links that resolve, and code blocks that are the repository's real files.

The site is built once per test session (all xdist workers share it) into the session's temp dir, never ./site.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import functools
import json
import os
import posixpath
import re
import shlex
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import psycopg
import pytest
from site_support import (
    DOCS,
    LANGUAGES,
    REPO_ROOT,
    RUNBOOKS,
    code_blocks,
    error_texts,
    page_sources,
    session_build,
    url_prefix,
)

from scryer_runbook import fastcli, project, scenarios, server, urls

SITE_NAME = {"zh": "Scryer 数据库迁移手册", "en": "Scryer migration runbooks"}
SEARCH_PLACEHOLDER = {"zh": "搜索", "en": "Search"}
NAV_TROUBLESHOOTING = {"zh": "故障排查", "en": "Troubleshooting"}
CJK = re.compile(r"[\u4e00-\u9fff]")


@pytest.fixture(scope="session")
def build(tmp_path_factory, worker_id):
    return session_build(tmp_path_factory, worker_id)


@pytest.fixture(scope="session")
def site(build) -> Path:
    assert build.returncode == 0, f"mkdocs build --strict failed:\n{build.output[-4000:]}"
    return build.site


def pages_of(site: Path, lang: str) -> list[Path]:
    """The built HTML pages of one language (404 pages aside)."""
    en = site / "en"
    if lang == "en":
        return sorted(p for p in en.rglob("index.html"))
    return sorted(p for p in site.rglob("index.html") if en not in p.parents)


class Tags(HTMLParser):
    """Every start tag with its attributes, and every element id."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict]] = []
        self.ids: set[str] = set()

    def handle_starttag(self, tag, attrs):
        attributes = {name: value or "" for name, value in attrs}
        self.tags.append((tag, attributes))
        if "id" in attributes:
            self.ids.add(attributes["id"])


@functools.cache  # the site is built once per session: parse each page once (read-only)
def parse(path: Path) -> Tags:
    tags = Tags()
    tags.feed(path.read_text(encoding="utf-8"))
    return tags


# --- the build ---------------------------------------------------------------------------------------------------


def test_strict_build_passes_without_warnings(build):
    assert build.returncode == 0, build.output[-4000:]
    assert not re.search(r"^(WARNING|ERROR)\b", build.output, re.M), build.output
    print(f"mkdocs build --strict: {build.seconds:.1f}s")


def test_every_source_page_is_built_in_both_languages(site):
    for lang in LANGUAGES:
        for name in page_sources(lang):
            page = name.removesuffix("index").rstrip("/")
            built = site / url_prefix(lang) / page / "index.html"
            assert built.exists(), f"{lang}: {name} was not built ({built})"
        for slug in RUNBOOKS:
            assert (site / url_prefix(lang) / "runbooks" / slug / "index.html").exists(), (lang, slug)


# --- notebooks -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("lang", LANGUAGES)
@pytest.mark.parametrize("slug", RUNBOOKS)
def test_runbook_notebook_is_an_html_page(site, slug, lang):
    """static-i18n + mkdocs-jupyter wrote raw notebook JSON into index.html, and --strict still passed."""
    page = site / url_prefix(lang) / "runbooks" / slug / "index.html"
    html = page.read_text(encoding="utf-8")
    assert html.lstrip().startswith("<!doctype html>"), f"{page} is not an HTML page"
    assert '"cell_type"' not in html and '"nbformat"' not in html, f"{page} holds the notebook's raw JSON"
    assert 'class="jp-Notebook"' in html and "jp-Cell" in html, f"{page} has no rendered notebook cells"
    assert f'<html lang="{lang}"' in html
    source = json.loads((DOCS / "runbooks" / f"{slug}.{lang}.ipynb").read_text(encoding="utf-8"))
    title = "".join(source["cells"][0]["source"]).splitlines()[0].lstrip("# ").strip()
    assert title.split("：")[0].split(":")[0] in html, "the notebook's title is not on its page"


@pytest.mark.parametrize("lang", LANGUAGES)
@pytest.mark.parametrize("slug", RUNBOOKS)
def test_runbook_page_offers_its_notebook_for_download(site, slug, lang):
    folder = site / url_prefix(lang) / "runbooks" / slug
    name = f"{slug}.{lang}.ipynb"
    copy = folder / name
    assert copy.exists(), f"{name} is not in the built site next to its page"
    assert copy.read_bytes() == (DOCS / "runbooks" / name).read_bytes()
    downloads = [a for tag, a in parse(folder / "index.html").tags if tag == "a" and "download" in a]
    assert [a["href"] for a in downloads] == [name]


@pytest.mark.parametrize("lang", LANGUAGES)
def test_notebook_headings_have_unique_nonempty_ids_and_a_matching_toc(site, lang):
    """nbconvert drops CJK from heading ids: Chinese headings got id="" (broken permalinks, TOC and search)."""
    for slug in RUNBOOKS:
        page = site / url_prefix(lang) / "runbooks" / slug / "index.html"
        html = page.read_text(encoding="utf-8")
        ids = re.findall(r'<h[1-6] id="([^"]*)"', html)
        assert ids and all(ids) and len(ids) == len(set(ids)), (page, ids)
        toc = re.findall(r'<a href="#([^"]+)" class="md-nav__link">', html)
        assert set(map(unquote, toc)) <= set(ids), (page, set(toc) - set(ids))


# --- search --------------------------------------------------------------------------------------------------------


def load_index(site: Path, lang: str) -> dict:
    return json.loads((site / url_prefix(lang) / "search" / "search_index.json").read_text(encoding="utf-8"))


def tokens(index: dict) -> set[str]:
    """The index's words as the browser's tokenizer makes them (Material splits on the separator, lower-cases)."""
    separator = re.compile(index["config"]["separator"])
    words = set()
    for doc in index["docs"]:
        text = re.sub(r"<[^>]+>", " ", doc["title"] + " " + doc["text"])
        words.update(word.lower() for word in separator.split(text) if word)
    return words


@pytest.mark.parametrize("lang", LANGUAGES)
def test_search_index_keeps_english_and_chinese_words(site, lang):
    index = load_index(site, lang)
    config = index["config"]
    # With theme language zh, Material's default pipeline (stemmer, with lunr.zh) dropped most English words.
    assert config["pipeline"] == ["stopWordFilter"]
    # Two Lunr languages bring lunr.multiLanguage's trimmer, which strips punctuation when indexing only.
    assert config["lang"] == ["en"]
    words = tokens(index)
    for word in [
        "relation",
        "users",
        "already",
        "exists",
        "alembic",
        "migration",
        "permission",
        "heads",
        "duplicatetable",
        "insufficientprivilege",
        "-2",
        "can't",
        "002_add_tasks_table",
    ]:
        assert word in words, f"{word!r} is not a search token in the {lang} index"
    if lang == "zh":
        for word in ["迁移", "数据库", "权限", "降级"]:
            assert word in words, f"{word!r} is not a search token (jieba segmentation) in the zh index"


def test_each_language_has_its_own_search_index(site):
    """One stacked index served both languages: English readers got the Chinese pages for a pasted error first."""
    zh, en = load_index(site, "zh"), load_index(site, "en")
    assert not [d for d in zh["docs"] if d["location"].startswith("en/")]
    assert not [d["title"] for d in en["docs"] if CJK.search(d["title"])], (
        "Chinese pages in the English index"
    )
    for lang, index in (("zh", zh), ("en", en)):
        for doc in index["docs"]:
            page = site / url_prefix(lang) / doc["location"].split("#")[0] / "index.html"
            assert page.exists(), f"{lang} index: {doc['location']} is not a page of that language"
    for index in (zh, en):
        locations = [d["location"] for d in index["docs"]]
        assert len(locations) == len(set(locations)), (
            "duplicate locations break the search worker's highlighting"
        )
        assert "runbooks/already-exists/" in locations and "troubleshooting/" in locations
        assert not any(re.search(r"(#|--)\s*\(\d+\)!", d["text"]) for d in index["docs"]), (
            "annotation markers"
        )
    # English pages load their own index: Material's "base" points at /en/.
    config = re.search(
        r'<script id="__config" type="application/json">(.*?)</script>',
        (site / "en" / "runbooks" / "already-exists" / "index.html").read_text(encoding="utf-8"),
        re.S,
    )
    assert json.loads(config.group(1))["base"] == "../../"


@pytest.mark.parametrize("lang", LANGUAGES)
def test_troubleshooting_symptom_sections_are_boosted(site, lang):
    """{#anchor data-search-boost="10"} on a heading boosts its section (hooks/search_i18n.py); nothing else is."""
    boosted = {d["location"]: d.get("boost") for d in load_index(site, lang)["docs"] if "boost" in d}
    assert boosted == {f"troubleshooting/#{slug}-symptoms": 10.0 for slug in error_texts(lang)}
    page = (site / url_prefix(lang) / "troubleshooting" / "index.html").read_text(encoding="utf-8")
    assert "data-search-" not in page


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_error_text_is_searchable(site, lang):
    """Each line quoted on the troubleshooting index is in that language's search index, word for word."""
    index = load_index(site, lang)
    text = "\n".join(
        re.sub(r"<[^>]+>", "", d["text"])
        for d in index["docs"]
        if d["location"].startswith("troubleshooting/#")
    )
    import html as htmllib

    text = htmllib.unescape(text)
    errors = error_texts(lang)
    assert set(errors) >= set(RUNBOOKS)
    for slug, lines in errors.items():
        for line in lines:
            assert line in text, f"{slug}: {line!r} is not in the search index"


# --- translation and the language switcher -------------------------------------------------------------------------


@pytest.mark.parametrize("lang", LANGUAGES)
def test_site_name_ui_and_nav_are_translated(site, lang):
    other = "en" if lang == "zh" else "zh"
    for page in pages_of(site, lang):
        html = page.read_text(encoding="utf-8")
        assert f'<html lang="{lang}"' in html, page
        assert SITE_NAME[lang] in html and SITE_NAME[other] not in html, page
        assert f'placeholder="{SEARCH_PLACEHOLDER[lang]}"' in html, page
        assert NAV_TROUBLESHOOTING[lang] in html and NAV_TROUBLESHOOTING[other] not in html, page


@pytest.mark.parametrize("lang", LANGUAGES)
def test_language_switcher_points_at_the_same_page(site, lang):
    other = "en" if lang == "zh" else "zh"
    for page in pages_of(site, lang):
        relative = page.parent.relative_to(site / url_prefix(lang)).as_posix()
        relative = "" if relative == "." else relative + "/"
        links = {
            a["hreflang"]: a["href"]
            for tag, a in parse(page).tags
            if tag == "a" and "md-select__link" in a.get("class", "")
        }
        assert set(links) == {"zh", "en"}, page
        href = links[other]
        here = page.parent.relative_to(site).as_posix()
        target = (
            posixpath.normpath(href.lstrip("/") or ".")
            if href.startswith("/")
            else posixpath.normpath(posixpath.join(here, href))
        )
        expected = posixpath.normpath(url_prefix(other) + relative)
        assert target == expected, f"{page}: the {other} link goes to {target}, not {expected}"


# --- offline -------------------------------------------------------------------------------------------------------

LOADING_ATTRIBUTES = {
    "script": ["src"],
    "img": ["src", "srcset"],
    "source": ["src", "srcset"],
    "iframe": ["src"],
    "video": ["src", "poster"],
    "audio": ["src"],
    "embed": ["src"],
    "object": ["data"],
    "track": ["src"],
    "input": ["src"],
}
LOADING_LINK_RELS = {
    "stylesheet",
    "icon",
    "shortcut",
    "apple-touch-icon",
    "preload",
    "prefetch",
    "preconnect",
    "dns-prefetch",
    "modulepreload",
    "manifest",
    "mask-icon",
}


def external(url: str) -> bool:
    parts = urlsplit(url.strip())
    if parts.scheme in ("data", "blob", "about", "mailto", "javascript"):
        return False
    return bool(parts.netloc or url.strip().startswith("//")) and parts.hostname not in (
        "127.0.0.1",
        "localhost",
    )


def test_no_page_loads_anything_from_another_host(site):
    offenders = []
    for page in site.rglob("*.html"):
        for tag, attributes in parse(page).tags:
            urls_loaded = [attributes[name] for name in LOADING_ATTRIBUTES.get(tag, []) if name in attributes]
            if tag == "link" and LOADING_LINK_RELS & set(attributes.get("rel", "").lower().split()):
                urls_loaded.append(attributes.get("href", ""))
            for value in urls_loaded:
                for url in value.split(","):  # srcset
                    if url.strip() and external(url.split()[0]):
                        offenders.append((page.relative_to(site).as_posix(), tag, url.strip()))
        text = page.read_text(encoding="utf-8")
        for url in re.findall(r"url\(\s*['\"]?([^'\")]+)", text) + re.findall(
            r"@import\s+['\"]([^'\"]+)", text
        ):
            if external(url):
                offenders.append((page.relative_to(site).as_posix(), "css", url))
    for sheet in site.rglob("*.css"):
        text = sheet.read_text(encoding="utf-8")
        for url in re.findall(r"url\(\s*['\"]?([^'\")]+)", text) + re.findall(
            r"@import\s+(?:url\()?['\"]?([^'\")\s;]+)", text
        ):
            if external(url):
                offenders.append((sheet.relative_to(site).as_posix(), "css", url))
    assert not offenders, offenders[:20]


def test_no_fonts_or_cdn_scripts_are_referenced(site):
    """theme.font: false (Material loads Google Fonts otherwise); nbconvert's MathJax/mermaid CDN loaders removed."""
    for path in [*site.rglob("*.html"), *site.rglob("*.css"), *site.rglob("*.js")]:
        text = path.read_text(encoding="utf-8", errors="replace")
        for host in ("fonts.googleapis.com", "fonts.gstatic.com", "cdnjs.cloudflare.com", "cdn.jsdelivr.net"):
            assert host not in text, f"{path.relative_to(site)} references {host}"
    # Material's bundle loads mermaid from unpkg.com only when a page has a mermaid diagram.
    assert not any('class="mermaid"' in p.read_text(encoding="utf-8") for p in site.rglob("*.html"))


# --- links, anchors, headings --------------------------------------------------------------------------------------


def resolve(site: Path, page: Path, href: str) -> tuple[Path | None, str]:
    parts = urlsplit(href)
    if parts.scheme or parts.netloc or href.startswith(("mailto:", "javascript:", "data:")):
        return None, ""
    path = unquote(parts.path)
    # The language switcher's links on the home pages are root-absolute (/, /en/): the site is served at the root.
    target = page if not path else (site / path.lstrip("/")) if path.startswith("/") else (page.parent / path)
    target = Path(posixpath.normpath(target.as_posix()))
    if target.is_dir() or path.endswith("/"):
        target = target / "index.html"
    return target, unquote(parts.fragment)


def test_internal_links_and_anchors_resolve(site):
    broken = []
    for page in site.rglob("*.html"):
        if page.name == "404.html":
            continue
        for tag, attributes in parse(page).tags:
            href = attributes.get("href") if tag == "a" else None
            if not href:
                continue
            target, fragment = resolve(site, page, href)
            if target is None:
                continue
            if not target.exists():
                broken.append((page.relative_to(site).as_posix(), href))
                continue
            if fragment and target.suffix == ".html":
                if fragment not in parse(target).ids:
                    broken.append((page.relative_to(site).as_posix(), href))
    assert not broken, broken[:20]


def test_chinese_headings_get_readable_anchors(site):
    """The default toc slugify drops CJK characters, leaving anchors such as "_1"."""
    # Explicit {#id}s are on purpose: the same id in both languages, for links from other pages.
    explicit = set(
        re.findall(
            r"\{#([\w-]+)[^}]*\}", "".join(p.read_text(encoding="utf-8") for p in page_sources("zh").values())
        )
    )
    checked = 0
    for page in pages_of(site, "zh"):
        if "runbooks" in page.parts:
            continue  # notebook headings: see test_notebook_headings_have_unique_nonempty_ids_and_a_matching_toc
        for _level, anchor, title in re.findall(
            r'<h([1-6]) id="([^"]*)"[^>]*>(.*?)</h\1>', page.read_text(encoding="utf-8"), re.S
        ):
            assert anchor and not re.fullmatch(r"_\d+", anchor), (page, anchor)
            if CJK.search(re.sub(r"<[^>]+>", "", title)) and anchor not in explicit:
                assert CJK.search(unquote(anchor)), f"{page}: heading {title!r} got the anchor {anchor!r}"
                checked += 1
    assert checked > 10


def test_troubleshooting_index_links_every_runbook_in_both_languages(site):
    for lang in LANGUAGES:
        page = site / url_prefix(lang) / "troubleshooting" / "index.html"
        hrefs = {a["href"] for tag, a in parse(page).tags if tag == "a" and "href" in a}
        for slug in RUNBOOKS:
            assert f"../runbooks/{slug}/" in hrefs, (lang, slug)
            assert f"#{slug}" in hrefs, (lang, slug)  # its section, from the page's table of contents


def test_troubleshooting_index_keeps_the_guides_symptom_lines():
    guide_lines = [
        'ERROR: [ALEMBIC] Migration failed: relation "users" already exists',
        "ERROR: PostgreSQL is not ready",
        "ERROR: Multiple heads detected",
        "ERROR: permission denied for table users",
    ]
    for lang in LANGUAGES:
        quoted = [line for lines in error_texts(lang).values() for line in lines]
        for line in guide_lines + [
            "sqlalchemy.exc.ProgrammingError: (psycopg.errors.DuplicateTable) "
            'relation "users" already exists',
            'FATAL:  password authentication failed for user "scryer"',
            "FAILED: Target database is not up to date.",
        ]:
            assert line in quoted, (lang, line)


# --- code blocks are real --------------------------------------------------------------------------------------------

SNIPPET = re.compile(r'^--8<-- "([^"]+)"$', re.M)


def all_code_blocks() -> list[tuple[str, str, str]]:
    return [
        (name, info, body)
        for lang in LANGUAGES
        for name, path in page_sources(lang).items()
        for info, body in code_blocks(path.read_text(encoding="utf-8"))
    ]


def test_included_code_comes_from_whole_repository_files(site):
    included = set()
    for name, info, body in all_code_blocks():
        for path in SNIPPET.findall(body):
            assert ":" not in path, f"{name}: line-range include {path!r} (ranges drift; include whole files)"
            assert (REPO_ROOT / path).is_file(), f"{name}: {path} does not exist"
            included.add(path)
            if not path.startswith("docs/snippets/"):  # sample output, not code
                assert f'title="{path}"' in info, f"{name}: the block including {path} does not show its path"
    for path in [
        "alembic/env.py",
        "alembic.ini",
        "src/backend/app/models/user.py",
        "docker-compose.yml",
        "docker/entrypoint.sh",
        "alembic/versions/002_add_users_table.py",
    ]:
        assert path in included, f"{path} is not shown on any page"
    # and the rendered page really holds the file's text
    env_py = (REPO_ROOT / "alembic" / "env.py").read_text(encoding="utf-8")
    page = (site / "setup" / "index.html").read_text(encoding="utf-8")
    import html as htmllib

    rendered = htmllib.unescape(re.sub(r"<[^>]+>", "", page))
    assert "def run_locked_migrations(connection: Connection) -> None:" in rendered
    assert env_py.splitlines()[0] in rendered


def test_project_tree_matches_the_repository():
    tree = next(
        body
        for info, body in code_blocks((DOCS / "index.zh.md").read_text(encoding="utf-8"))
        if body.startswith("scryer/")
    )
    stack: list[str] = []
    checked = 0
    for line in tree.splitlines()[1:]:
        match = re.match(r"^((?:│   |    )*)(?:├── |└── )(.+)$", line)
        assert match, line
        depth = len(match.group(1)) // 4
        stack = stack[:depth] + [match.group(2).rstrip("/")]
        path = REPO_ROOT.joinpath(*"/".join(stack).split("/"))
        assert path.exists(), f"the project tree shows {'/'.join(stack)}, which does not exist"
        checked += 1
    assert checked > 15


def test_history_block_is_what_alembic_history_prints():
    result = project.run([sys.executable, "-m", "alembic", "history"])  # reads the scripts only, no database
    assert result.returncode == 0, result.output
    printed = [line for line in result.output.splitlines() if " -> " in line]
    for lang in LANGUAGES:
        blocks = [
            body
            for info, body in code_blocks((DOCS / f"run-migrations.{lang}.md").read_text(encoding="utf-8"))
            if info == "text" and " -> " in body
        ]
        assert blocks == ["\n".join(printed) + "\n"], lang


def test_commands_name_revisions_that_exist():
    """The guide's `alembic downgrade 002_add_tasks_table` names a revision this repository does not have."""
    revisions = {p.stem for p in (REPO_ROOT / "alembic" / "versions").glob("*.py")}
    for name, info, body in all_code_blocks():
        if info.split()[:1] != ["bash"]:
            continue
        for verb, target in re.findall(r"\balembic (upgrade|downgrade|stamp) (\S+)", body):
            if target.startswith(("<", "-")) or target in ("head", "heads", "base"):
                continue
            assert target in revisions, f"{name}: alembic {verb} {target}: no such revision"
        assert "docker-compose " not in body, f"{name}: Compose V1 command in a code block"
    downgrade = (DOCS / "downgrade.zh.md").read_text(encoding="utf-8")
    assert "alembic downgrade 003_add_tasks_table" in downgrade and "002_add_tasks_table" in downgrade


# --- the shell commands of the pages, as written, on a real server ------------------------------------------------


def client_bin() -> str:
    """The folder of psql and pg_dump: on PATH, else next to the server binaries the tests use."""
    found = shutil.which("psql")
    return str(Path(found).parent) if found else str(server.find_bindir())


def shell(line: str, cwd: Path, url: str | None = None) -> subprocess.CompletedProcess:
    """One line of a page's bash block, run by bash as a reader would: `alembic` and psql on PATH, the project's
    alembic.ini found through ALEMBIC_CONFIG (the reader is in the project folder; the files go to ``cwd``)."""
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}:{client_bin()}:{os.environ['PATH']}",
        "ALEMBIC_CONFIG": str(REPO_ROOT / "alembic.ini"),
    }
    env.pop("DATABASE_URL", None)
    if url:
        env["DATABASE_URL"] = url
    return subprocess.run(
        ["bash", "-euo", "pipefail", "-c", line],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def bash_lines(page: str, containing: str) -> list[str]:
    """The lines (annotation markers removed) of the bash block on ``page`` that contains ``containing``; the same
    in both languages."""
    blocks = {
        lang: next(
            body
            for info, body in code_blocks((DOCS / f"{page}.{lang}.md").read_text(encoding="utf-8"))
            if info.split()[:1] == ["bash"] and containing in body
        )
        for lang in LANGUAGES
    }
    assert blocks["zh"] == blocks["en"]
    return [re.sub(r"\s+#\s*\(\d+\)!?\s*$", "", line) for line in blocks["zh"].splitlines()]


def asyncpg_form(url: str) -> str:
    """The setup page's recommended `postgresql+asyncpg://` form of a URL."""
    return urls.parse(url).set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)


@pytest.mark.slow  # migrations in several databases
def test_offline_sql_from_the_page_applies_to_a_database_at_that_revision(scratch, tmp_path):
    """run-migrations' "run it by hand" commands, exactly as shown: a database at 002 gets the SQL from 002 to
    head, psql runs it, and the database is at head with nothing left to generate. The range matters: the SQL of a
    bare `alembic upgrade head --sql` starts at base and fails on the first table that exists."""
    current, render, apply = bash_lines("run-migrations", ":head --sql")
    assert (current, render) == ("alembic current", "alembic upgrade <current>:head --sql > upgrade.sql")
    url = scratch.database("offline")
    project.alembic("upgrade", "002_add_users_table", url=url, check=True)
    printed = shell(current, tmp_path, asyncpg_form(url))
    [revision] = re.findall(r"^(\w+)(?: \(head\))?$", printed.stdout, re.M)
    assert revision == "002_add_users_table", printed.stdout + printed.stderr

    rendered = shell(render.replace("<current>", revision), tmp_path)  # offline: no DATABASE_URL needed
    assert rendered.returncode == 0, rendered.stderr
    applied = shell(apply, tmp_path, asyncpg_form(url))
    assert applied.returncode == 0, applied.stderr
    assert query(url, "SELECT version_num FROM alembic_version") == [("004_index_tasks_created_at",)]
    alembic_ok("check", url=url, project_dir=REPO_ROOT)

    from_base = scratch.database("offline_from_base")  # the guide's command on the same kind of database
    project.alembic("upgrade", "002_add_users_table", url=from_base, check=True)
    assert shell("alembic upgrade head --sql > upgrade.sql", tmp_path).returncode == 0
    failed = shell(apply, tmp_path, asyncpg_form(from_base))
    assert failed.returncode != 0 and 'relation "alembic_version" already exists' in failed.stderr, (
        failed.stderr
    )
    assert query(from_base, "SELECT version_num FROM alembic_version") == [("002_add_users_table",)]


def test_the_backup_command_works_with_the_setup_pages_asyncpg_url(head_db, scratch, tmp_path):
    """Best practices' pg_dump line, as written, with DATABASE_URL in the `postgresql+asyncpg://` form the setup page
    recommends: the dump restores into an empty database. (`pg_dump "$DATABASE_URL"` took it for a database name.)"""
    [dump] = [line for line in bash_lines("best-practices", "pg_dump") if line.startswith("pg_dump")]
    query(head_db, "INSERT INTO users VALUES (gen_random_uuid(), 'ada', 'ada@example.org', true)")
    done = shell(dump, tmp_path, asyncpg_form(head_db))
    assert done.returncode == 0, done.stderr
    [file] = re.findall(r"--file=(\S+)", dump)
    restored = scratch.database("restored")
    done = shell(f'pg_restore --no-owner --dbname="$DATABASE_URL" {file}', tmp_path, restored)
    assert done.returncode == 0, done.stderr
    assert query(restored, "SELECT username FROM users") == [("ada",)]


APP_DOWN = {"zh": "应用在部署后宕机", "en": "The app is down after a deploy"}


@pytest.mark.parametrize("lang", LANGUAGES)
def test_the_app_down_page_is_in_the_nav_and_leads_to_every_runbook(site, lang):
    """The incident page without Jupyter: under 故障排查 in both languages, linking every runbook, the stop-the-
    bleeding steps (SKIP_MIGRATION, which docker/entrypoint.sh honours) and the database-ahead section."""
    page = site / url_prefix(lang) / "troubleshooting" / "app-down" / "index.html"
    html = page.read_text(encoding="utf-8")
    nav = [
        a.get("href")
        for tag, a in parse(site / url_prefix(lang) / "troubleshooting" / "index.html").tags
        if tag == "a" and "md-nav__link" in a.get("class", "")
    ]
    assert "app-down/" in nav, nav
    assert APP_DOWN[lang] in html
    hrefs = {a["href"] for tag, a in parse(page).tags if tag == "a" and "href" in a}
    assert {f"../../runbooks/{slug}/" for slug in RUNBOOKS} <= hrefs, hrefs
    assert "../#database-ahead" in hrefs and "../../run-migrations/#limits" in hrefs
    import html as htmllib

    assert "SKIP_MIGRATION=true docker compose up -d scryer-dev" in htmllib.unescape(
        re.sub(r"<[^>]+>", "", html)
    )
    assert '"${SKIP_MIGRATION,,}" = true' in (REPO_ROOT / "docker" / "entrypoint.sh").read_text()


def test_the_app_down_page_s_lock_query_shows_who_holds_the_migration_lock(head_db):
    """The page's psql query, as written, on a real database: the session holding the migration lock is listed."""
    for lang in LANGUAGES:
        [statement] = [
            body
            for info, body in code_blocks(
                (DOCS / "troubleshooting" / f"app-down.{lang}.md").read_text(encoding="utf-8")
            )
            if info == "sql"
        ]
        with psycopg.connect(head_db, autocommit=True) as holder:
            holder.execute("SELECT pg_advisory_lock(hashtext('scryer:alembic'))")
            listed = [row[0] for row in query(head_db, statement)]
            assert holder.info.backend_pid in listed, listed
        assert query(head_db, statement) == []


# --- the example migrations on the best-practices page run ---------------------------------------------------------

EXAMPLES = DOCS / "examples"


def project_with(tmp_path: Path, example: str, replaces: str | None = None) -> Path:
    copy = project.copy_project(tmp_path / "project")
    versions = copy / "alembic" / "versions"
    if replaces:
        (versions / f"{replaces}.py").unlink()
    shutil.copy(EXAMPLES / example, versions / example)
    return copy


def alembic_ok(*args, url, project_dir):
    result = project.alembic(*args, url=url, project=project_dir)
    assert result.returncode == 0, result.output
    return result


def query(url, sql):
    with psycopg.connect(urls.libpq(url), autocommit=True) as conn:
        cursor = conn.execute(sql)
        return cursor.fetchall() if cursor.description else None


@pytest.mark.slow  # migrations in several databases
@pytest.mark.parametrize("example", ["idempotent_users_table.py", "idempotent_users_table_sql.py"])
def test_idempotent_example_runs_where_the_table_exists_or_only_another_schema_has_one(
    example, scratch, tmp_path
):
    copy = project_with(tmp_path, example, replaces="002_add_users_table")
    from sqlalchemy import create_engine

    from src.backend.app.models import Base

    empty = scratch.database("idem_empty")
    alembic_ok("upgrade", "head", url=empty, project_dir=copy)
    alembic_ok("check", url=empty, project_dir=copy)

    existing = scratch.database("idem_existing")  # public.users made outside Alembic, no alembic_version
    engine = create_engine(urls.sqlalchemy(existing))
    Base.metadata.tables["users"].create(engine)
    engine.dispose()
    alembic_ok("upgrade", "head", url=existing, project_dir=copy)
    alembic_ok("check", url=existing, project_dir=copy)
    # downgrade() drops only what upgrade() created: the users table that was there before stays, with its rows.
    query(existing, "INSERT INTO users VALUES (gen_random_uuid(), 'ada', 'ada@example.org', true)")
    alembic_ok("downgrade", "base", url=existing, project_dir=copy)
    assert query(existing, "SELECT username FROM public.users") == [("ada",)]
    alembic_ok("downgrade", "base", url=empty, project_dir=copy)
    assert query(empty, "SELECT to_regclass('public.users')") == [(None,)]

    other_schema = scratch.database(
        "idem_legacy"
    )  # only legacy.users: the guide's pg_tables test says "exists"
    query(other_schema, "CREATE SCHEMA legacy; CREATE TABLE legacy.users (id int)")
    assert query(other_schema, "SELECT 1 FROM pg_tables WHERE tablename = 'users'") == [(1,)]
    alembic_ok("upgrade", "head", url=other_schema, project_dir=copy)
    assert query(other_schema, "SELECT to_regclass('public.users')::text") == [("users",)]
    alembic_ok("downgrade", "base", url=other_schema, project_dir=copy)
    assert query(other_schema, "SELECT to_regclass('public.users'), to_regclass('legacy.users')::text") == [
        (None, "legacy.users")
    ]


def test_backup_example_restores_every_row_and_keeps_constraints(scratch, tmp_path):
    copy = project_with(tmp_path, "backup_before_drop.py")
    url = scratch.database("backup")
    alembic_ok("upgrade", "004_index_tasks_created_at", url=url, project_dir=copy)
    rows = [
        (f"00000000-0000-0000-0000-00000000000{i}", f"user{i}", f"user{i}@example.org", value)
        for i, value in enumerate([True, False, None])
    ]
    with psycopg.connect(urls.libpq(url), autocommit=True) as conn:
        for row in rows:
            conn.execute("INSERT INTO users (id, username, email, is_active) VALUES (%s, %s, %s, %s)", row)
        # The guide's backup, for comparison: CREATE TABLE ... AS keeps no constraint at all.
        conn.execute("CREATE TABLE guide_backup AS SELECT * FROM users")
        assert conn.execute(
            "SELECT count(*) FROM pg_constraint WHERE conrelid = 'guide_backup'::regclass"
        ).fetchone() == (0,)
        conn.execute("DROP TABLE guide_backup")

    alembic_ok("upgrade", "head", url=url, project_dir=copy)
    assert query(
        url,
        "SELECT count(*) FROM information_schema.columns "
        "WHERE table_name = 'users' AND column_name = 'is_active'",
    ) == [(0,)]
    kinds = {
        kind
        for (kind,) in query(
            url, "SELECT contype::text FROM pg_constraint WHERE conrelid = 'users_backup'::regclass"
        )
    }
    assert kinds == {"p", "u"}, "the backup lost its primary key or unique constraints"

    alembic_ok("downgrade", "004_index_tasks_created_at", url=url, project_dir=copy)
    restored = query(url, "SELECT id::text, username, email, is_active FROM users ORDER BY username")
    assert restored == rows
    assert query(url, "SELECT to_regclass('public.users_backup')") == [(None,)]


# --- toolchain pitfalls (field notes), each with its fix in mkdocs.yml or hooks/ ---------------------------------


def test_notebooks_reach_the_docs_through_the_runbooks_symlink():
    """Notebooks live outside docs/; a symlink works (mkdocs-gen-files and generated Files do not, with static-i18n)."""
    link = DOCS / "runbooks"
    assert link.is_symlink() and link.resolve() == (REPO_ROOT / "notebooks").resolve()
    for slug in RUNBOOKS:
        for lang in LANGUAGES:
            assert (link / f"{slug}.{lang}.ipynb").is_file()


def test_mkdocs_jupyter_renders_only_notebooks(tmp_path):
    """Its default include also matches *.py and *.md (with a jupytext header): only *.ipynb here, no cache."""
    from mkdocs.config import load_config
    from mkdocs.structure.files import File

    config = load_config(str(REPO_ROOT / "mkdocs.yml"))
    plugin = config.plugins["mkdocs-jupyter"]
    assert plugin.config["include"] == ["*.ipynb"] and plugin.config["cache"] is False
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "script.py").write_text("# %%\nprint('a script, not a page')\n")
    (docs / "page.md").write_text(
        "---\njupyter:\n  kernelspec:\n    display_name: Python 3\n    language: python\n"
        "    name: python3\n---\n\n# A page\n"
    )
    (docs / "book.ipynb").write_text(
        json.dumps({"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5})
    )

    def included(name):
        return plugin.should_include(File(name, str(docs), str(tmp_path / "site"), True))

    assert not included("script.py") and not included("page.md") and included("book.ipynb")


def test_site_is_built_outside_the_repository(build):
    """nbmake would collect the .ipynb copies in a built site inside the repository (site/ is ignored too)."""
    assert REPO_ROOT not in build.site.resolve().parents
    pyproject = (REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert re.search(r'norecursedirs\s*=\s*\[[^\]]*"site"', pyproject)
    assert "site/" in (REPO_ROOT / ".gitignore").read_text(encoding="utf-8").split()


def test_grants_on_the_troubleshooting_page_are_the_compose_init_script_s():
    """The least-privilege grants shown for 'permission denied' are the ones docker/initdb/ really runs."""
    script = " ".join(
        (REPO_ROOT / "docker" / "initdb" / "10-scryer-roles.sh").read_text(encoding="utf-8").split()
    )
    for lang in LANGUAGES:
        page = (DOCS / "troubleshooting" / f"index.{lang}.md").read_text(encoding="utf-8")
        section = re.search(r"^## .*\{#permissions\}.*?(?=^## )", page, re.M | re.S)[0]
        blocks = [body for info, body in code_blocks(section) if info == "sql"]
        statements = [" ".join(s.split()) for s in " ".join(blocks).split(";") if s.strip()]
        assert len(statements) == 6
        for statement in statements:
            assert statement + ";" in script, f"{statement!r} is not in docker/initdb/10-scryer-roles.sh"


# --- every alembic command shown on a page runs here --------------------------------------------------------------


def documented_alembic_commands() -> set[str]:
    """`alembic ...` lines of the pages' bash blocks (also after `docker compose exec scryer-dev`)."""
    commands = set()
    for _name, info, body in all_code_blocks():
        if info.split()[:1] != ["bash"]:
            continue
        for line in body.splitlines():
            line = re.sub(r"\s+#\s*\(\d+\)!?\s*$", "", line).strip()
            match = re.match(r"^(?:docker compose exec scryer-dev )?(alembic .+)$", line)
            if match:
                commands.add(match.group(1))
    return commands


class Twin:
    """One Alembic world (a project copy and its databases), its commands run one way: plain subprocesses, or
    through the fork server (fastcli) as project.alembic runs them."""

    def __init__(self, name: str, plain: bool, scratch, tmp_path: Path):
        self.name, self.plain, self.scratch = name, plain, scratch
        self.copy = project.copy_project(tmp_path / name)
        self.databases: dict[str, str] = {}

    def url(self, database: str | None) -> str | None:
        if database is not None and database not in self.databases:
            self.databases[database] = self.scratch.database(f"{database}_{self.name}")
        return None if database is None else self.databases[database]

    def alembic(self, line: str, database: str | None) -> project.Result:
        with fastcli.plain() if self.plain else contextlib.nullcontext():
            return project.alembic(*shlex.split(line)[1:], url=self.url(database), project=self.copy)

    def same_for_both(self, output: str) -> str:
        """What differs between two worlds by construction: the copy's path, database names, random revision ids."""
        output = output.replace(str(self.copy), "<project>")
        for label, url in self.databases.items():
            output = output.replace(urls.parse(url).database, f"<{label}>")
        return re.sub(r"\b[0-9a-f]{12}\b", "<random revision id>", output)


@pytest.mark.slow  # about 50 alembic commands, each as a plain process too
def test_every_alembic_command_shown_runs(scratch, tmp_path):
    """Each `alembic` command on the pages, run on a real PostgreSQL in a copy of the project, in the order a
    reader would run them. A command added to a page without a place here fails this test.

    Every command runs twice, in two identical worlds: as a plain `python -m alembic` process, and through the
    fork server (fastcli) that project.alembic uses. Exit codes and output must be the same, so the fast path
    cannot drift from the real CLI."""
    assert fastcli.supported(), "the fork server is not available here: the comparison would compare nothing"
    plain, fast = Twin("plain", True, scratch, tmp_path), Twin("fast", False, scratch, tmp_path)
    ran: set[str] = set()
    alongside = concurrent.futures.ThreadPoolExecutor(1)  # the plain world runs while the fast one does

    def run(command: str, database: str | None, expect_ok: bool = True, **placeholders) -> str:
        def line(twin: Twin) -> str:
            text = re.sub(r"\s+>\s+\S+$", "", command)  # the output file of `... --sql > upgrade.sql`
            for placeholder, value in placeholders.items():
                text = text.replace(f"<{placeholder}>", value(twin) if callable(value) else value)
            return text

        slow = alongside.submit(plain.alembic, line(plain), database)
        quick, reference = fast.alembic(line(fast), database), slow.result()
        assert (reference.returncode == 0) == expect_ok, f"{line(plain)}\n{reference.output}"
        assert (quick.returncode, fast.same_for_both(quick.output)) == (
            reference.returncode,
            plain.same_for_both(reference.output),
        ), f"fast path differs: {line(fast)}"
        ran.add(command)
        return reference.output

    def both(action) -> list:
        return [action(twin) for twin in (plain, fast)]

    def heads(twin: Twin) -> list[str]:
        return re.findall(r"^(\w+) \(head\)", project.alembic("heads", project=twin.copy).output, re.M)

    run("alembic upgrade head --sql", None)
    run("alembic upgrade <revision_id>", "commands", revision_id="003_add_tasks_table")
    assert "CREATE TABLE" not in run(
        "alembic upgrade <current>:head --sql > upgrade.sql", None, current="003_add_tasks_table"
    )
    run("alembic upgrade head", "commands")
    assert "004_index_tasks_created_at (head)" in run("alembic current", "commands")
    run("alembic history", "commands")
    run("alembic heads", "commands")
    run("alembic check", "commands")
    run("alembic downgrade 003_add_tasks_table", "commands")
    assert "Can't locate revision identified by '002_add_tasks_table'" in run(
        "alembic downgrade 002_add_tasks_table", "commands", expect_ok=False
    )  # the original guide's id
    run("alembic upgrade head", "commands")
    run("alembic downgrade base", "commands")
    run("alembic upgrade head", "commands")

    # The troubleshooting fix: users exists, tasks does not, no version row.
    run("alembic upgrade <revision_id>", "stamp", revision_id="002_add_users_table")
    both(lambda twin: query(twin.url("stamp"), "DROP TABLE alembic_version"))
    assert "already exists" in run("alembic upgrade head", "stamp", expect_ok=False)
    run("alembic stamp 002_add_users_table", "stamp")
    run("alembic upgrade head", "stamp")
    run("alembic check", "stamp")

    # The database-ahead fix: a newer release (with 005_add_tasks_done) migrated the database; its code downgrades.
    ahead, newer = scratch.database("ahead"), project.copy_project(tmp_path / "newer")
    shutil.copytree(scenarios.database_ahead.FIXTURES / "database-ahead", newer, dirs_exist_ok=True)
    project.alembic("upgrade", "head", url=ahead, project=newer, check=True)
    assert (
        "Can't locate revision identified by '005_add_tasks_done'"
        in project.alembic("upgrade", "head", url=ahead).output
    )
    project.alembic("downgrade", "004_index_tasks_created_at", url=ahead, project=newer, check=True)
    ran.add("alembic downgrade 004_index_tasks_created_at")
    project.alembic("upgrade", "head", url=ahead, check=True)  # the older code starts again

    # New revisions (the database is at head, so autogenerate has nothing to add), then two heads to merge.
    for command in sorted(c for c in documented_alembic_commands() if c.startswith("alembic revision")):
        run(command, "commands")
    for twin, [parent] in zip((plain, fast), both(heads), strict=True):
        for rev_id in ("005_branch_a", "005_branch_b"):
            project.alembic(
                "revision",
                "-m",
                rev_id,
                "--head",
                parent,
                "--splice",
                "--rev-id",
                rev_id,
                project=twin.copy,
                check=True,
            )
    assert all(len(two) == 2 for two in both(heads))
    run(
        'alembic merge -m "merge branches" <revision1> <revision2>',
        "commands",
        revision1=lambda twin: heads(twin)[0],
        revision2=lambda twin: heads(twin)[1],
    )
    alongside.shutdown()

    documented = documented_alembic_commands()
    assert not documented - ran, f"shown on a page but not run by this test: {sorted(documented - ran)}"
