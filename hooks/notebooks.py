"""Glue between mkdocs-static-i18n and mkdocs-jupyter: runbook notebooks are real pages in both languages.

1. static-i18n rebuilds every File object in its on_files, which drops mkdocs-jupyter's NotebookFile wrapper, so
   the notebooks came out as raw JSON in index.html (static-i18n issue #198) and `--strict` still passed.
   Registering ``.ipynb`` as a Markdown extension makes the rebuilt Files documentation pages again; mkdocs-jupyter
   then renders them (its on_pre_page only looks at the source path).
2. nbconvert's template references scripts on a CDN (MathJax with an empty URL here, mermaid.js on cdnjs); the site
   must work offline and load nothing from another host, and the runbooks use neither, so they are removed.
3. nbconvert drops CJK characters from heading ids, so Chinese headings got an empty id: broken permalinks, a table
   of contents that pointed nowhere, and search entries sharing one location (which breaks the search worker).
   Empty or repeated ids get the site's own slugify (pymdownx.slugs, readable Chinese anchors); the TOC is rebuilt
   from the headings as rendered, and the pilcrow links become Material permalinks (kept out of search titles).
4. Each runbook page offers its notebook for download (mkdocs-jupyter's include_source copies the file next to it).
"""

from __future__ import annotations

import html as htmllib
import posixpath
import re

import mkdocs.utils
from mkdocs.structure.toc import get_toc
from pymdownx.slugs import slugify

if ".ipynb" not in mkdocs.utils.markdown_extensions:
    mkdocs.utils.markdown_extensions = (*mkdocs.utils.markdown_extensions, ".ipynb")

TEXT = {
    "zh": {
        "download": "下载此 notebook",
        "note": "在 JupyterLab 中运行，或用 papermill 对你自己的数据库执行，见",
        "how_to": "如何运行 runbook",
    },
    "en": {
        "download": "Download this notebook",
        "note": "Run it in JupyterLab, or with papermill against your own database: see",
        "how_to": "Running a runbook",
    },
}
HOW_TO_PAGE = "troubleshooting/run-a-runbook/"

_EXTERNAL_SCRIPTS = [
    # <script src=""> left by nbconvert's mathjax macro when no MathJax URL is configured, and its configuration
    re.compile(r"<!-- Load mathjax -->.*?<!-- End of mathjax configuration -->", re.S),
    # the mermaid.js loader (imports from cdnjs when a diagram is present)
    re.compile(
        r'<script type="module">\s*document\.addEventListener\("DOMContentLoaded", async \(\) => \{\s*'
        r"const diagrams = document\.querySelectorAll\(\"\.jp-Mermaid.*?</script>",
        re.S,
    ),
]
_HEADING = re.compile(
    r'<h(?P<level>[1-6]) id="(?P<id>[^"]*)">(?P<body>.*?)'
    r'<a class="anchor-link" href="#[^"]*">(?P<mark>.*?)</a>\s*</h(?P=level)>',
    re.S,
)
_slugify = slugify(case="lower")


def is_notebook(page) -> bool:
    return page.file.src_uri.endswith(".ipynb")


def page_language(page) -> str:
    return "en" if page.file.dest_uri.startswith("en/") else "zh"


def _text(fragment: str) -> str:
    return htmllib.unescape(re.sub(r"<[^>]+>", "", fragment)).strip()


def _fix_headings(html: str) -> tuple[str, list[dict]]:
    """Give every heading a unique, non-empty id; return the HTML and the flat list of headings."""
    seen: set[str] = set()
    headings: list[dict] = []

    def fix(match):
        name = _text(match["body"])
        anchor = match["id"]
        if not anchor or anchor in seen:
            base = _slugify(name, "-") or "section"
            anchor, n = base, 1
            while anchor in seen:
                n += 1
                anchor = f"{base}_{n}"
        seen.add(anchor)
        headings.append(
            {"level": int(match["level"]), "id": anchor, "name": htmllib.escape(name, quote=False)}
        )
        return (
            f'<h{match["level"]} id="{anchor}">{match["body"]}'
            f'<a class="headerlink" href="#{anchor}" title="Permanent link">{match["mark"]}</a></h{match["level"]}>'
        )

    return _HEADING.sub(fix, html), headings


def _toc_tokens(headings: list[dict]) -> list[dict]:
    """Nest a flat heading list the way Python-Markdown's toc extension does."""
    root: list[dict] = []
    stack: list[dict] = []
    for heading in headings:
        token = {**heading, "children": []}
        while stack and stack[-1]["level"] >= token["level"]:
            stack.pop()
        (stack[-1]["children"] if stack else root).append(token)
        stack.append(token)
    return root


def _banner(page) -> str:
    lang = page_language(page)
    text = TEXT[lang]
    name = posixpath.basename(page.file.src_uri)  # e.g. already-exists.zh.ipynb, copied next to the page
    here = posixpath.dirname(page.file.dest_uri)
    how_to = posixpath.relpath(posixpath.join("en" if lang == "en" else "", HOW_TO_PAGE), here) + "/"
    return (
        f'<p class="runbook-download"><a class="md-button md-button--primary" href="{name}" download="{name}">'
        f'{text["download"]} ({name})</a> <span>{text["note"]} <a href="{how_to}">{text["how_to"]}</a>.</span></p>'
    )


def on_page_content(html, page, config, files):
    if not is_notebook(page):
        return html
    for pattern in _EXTERNAL_SCRIPTS:
        html = pattern.sub("", html)
    html, headings = _fix_headings(html)
    page.toc = get_toc(_toc_tokens(headings))
    # The download offer goes right below the notebook's title (or first, if it has none).
    first_h1 = re.search(r"</h1>", html)
    at = first_h1.end() if first_h1 else 0
    return html[:at] + "\n" + _banner(page) + "\n" + html[at:]
