"""Helpers for the site tests: building the site, reading its Markdown sources, serving it on 127.0.0.1."""

from __future__ import annotations

import contextlib
import fcntl
import functools
import http.server
import json
import os
import re
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from scryer_runbook.catalogue import SLUGS

REPO_ROOT = Path(__file__).resolve().parents[1]
DOCS = REPO_ROOT / "docs"
LANGUAGES = ("zh", "en")  # zh is the default language, served at /
RUNBOOKS = SLUGS
CHROMIUM = "/usr/bin/chromium"
# Flags from the field notes: headless, and nothing that phones home.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@dataclass
class Build:
    site: Path
    seconds: float
    output: str
    returncode: int


def build_site(site_dir: Path) -> Build:
    """`mkdocs build --strict` of this repository into ``site_dir`` (never into ./site)."""
    # Served at the root of 127.0.0.1 (serve() below), as `make serve` does: links relative to the root.
    env = {
        **os.environ,
        "NO_MKDOCS_2_WARNING": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
        "SCRYER_SITE_URL": "http://127.0.0.1:8000/",
    }
    started = time.monotonic()
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "mkdocs",
            "build",
            "--strict",
            "--config-file",
            str(REPO_ROOT / "mkdocs.yml"),
            "--site-dir",
            str(site_dir),
        ],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    return Build(site_dir, time.monotonic() - started, done.stdout + done.stderr, done.returncode)


def shared_dir(tmp_path_factory, worker_id: str) -> Path:
    """A folder all xdist workers of this session share (the base temp dir's parent under xdist)."""
    root = tmp_path_factory.getbasetemp()
    return root.parent if worker_id != "master" else root


def once(directory: Path, name: str, produce) -> dict:
    """Run ``produce()`` (returning a JSON-able dict) once per session across xdist workers; others reuse it."""
    directory.mkdir(parents=True, exist_ok=True)
    result = directory / f"{name}.json"
    with open(directory / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not result.exists():
            result.write_text(json.dumps(produce()), encoding="utf-8")
    return json.loads(result.read_text(encoding="utf-8"))


def session_build(tmp_path_factory, worker_id: str) -> Build:
    """The site, built once per test session (into the session's temp dir, never ./site)."""
    directory = shared_dir(tmp_path_factory, worker_id)

    def produce():
        build = build_site(directory / "site")
        return {
            "site": str(build.site),
            "seconds": build.seconds,
            "output": build.output,
            "returncode": build.returncode,
        }

    data = once(directory, "site-build", produce)
    return Build(Path(data["site"]), data["seconds"], data["output"], data["returncode"])


def url_prefix(lang: str) -> str:
    return "" if lang == "zh" else f"{lang}/"


def page_sources(lang: str) -> dict[str, Path]:
    """The Markdown pages of one language, keyed by their path without the language suffix."""
    pages = {}
    for path in sorted(DOCS.rglob(f"*.{lang}.md")):
        relative = path.relative_to(DOCS).as_posix()
        if relative.startswith("runbooks/"):
            continue
        pages[relative.removesuffix(f".{lang}.md")] = path
    return pages


FENCE = re.compile(
    r"^(?P<indent> *)(?P<fence>`{3,}|~{3,})(?P<info>[^\n`]*)\n(?P<body>.*?)^(?P=indent)(?P=fence)[ \t]*$",
    re.S | re.M,
)
HEADING = re.compile(r"^(#{1,6})[ \t]+(.*?)[ \t]*(?:\{[^}]*\})?[ \t]*#*$", re.M)
SECTION_ID = re.compile(r"^##[ \t]+.*\{#(?P<id>[\w-]+)[^}]*\}[ \t]*$", re.M)


def strip_code(markdown: str) -> str:
    """The Markdown without fenced blocks (so headings and links inside code are not counted)."""
    return FENCE.sub("", markdown)


def code_blocks(markdown: str) -> list[tuple[str, str]]:
    """(info string, body) of every fenced code block, in order."""
    return [(m["info"].strip(), m["body"]) for m in FENCE.finditer(markdown)]


INCLUDE = re.compile(r'^--8<-- "(?P<path>[^"]+)"$', re.M)


def included(block: str) -> str:
    """A code block with its pymdownx.snippets includes (``--8<-- "file"``) replaced by the files' text, as the built
    page shows it."""
    return INCLUDE.sub(
        lambda match: (REPO_ROOT / match["path"]).read_text(encoding="utf-8").rstrip("\n"), block
    )


def error_texts(lang: str = "zh") -> dict[str, list[str]]:
    """Troubleshooting index: section id -> the error lines quoted in its ```text blocks."""
    markdown = (DOCS / "troubleshooting" / f"index.{lang}.md").read_text(encoding="utf-8")
    sections = {}
    starts = list(SECTION_ID.finditer(markdown))
    for match, following in zip(starts, [*starts[1:], None], strict=True):
        body = markdown[match.end() : following.start() if following else len(markdown)]
        lines = [
            line
            for info, block in code_blocks(body)
            if info.split()[:1] == ["text"]
            for line in included(block).splitlines()
            if line.strip()
        ]
        if lines:
            sections[match["id"]] = lines
    return sections


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@contextlib.contextmanager
def serve(directory: Path):
    """Serve ``directory`` on a free 127.0.0.1 port; yields the base URL (ending in /)."""
    handler = functools.partial(_QuietHandler, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
