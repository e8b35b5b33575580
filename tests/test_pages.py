"""The published site: the Pages workflow (validated like the CI workflow), one site_url, and the tools' links.

The runbook links default to the published site (problems.SITE_URL, equal to mkdocs.yml's site_url);
SCRYER_DOCS_URL points them elsewhere, e.g. at `make serve`."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml
from mkdocs.config import load_config

from scryer_runbook import problems, project

ROOT = project.REPO_ROOT
PAGES = ROOT / ".github" / "workflows" / "pages.yml"


def test_the_pages_workflow_is_a_valid_github_workflow():
    done = subprocess.run(
        [
            str(Path(sys.executable).parent / "check-jsonschema"),
            "--builtin-schema",
            "vendor.github-workflows",
            str(PAGES),
        ],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_pages_workflow_builds_strictly_and_publishes_every_push_to_main():
    workflow = yaml.safe_load(PAGES.read_text())
    triggers = workflow[True]  # YAML 1.1 reads the key `on` as True
    assert triggers["push"]["branches"] == ["main"]
    assert workflow["permissions"] == {"contents": "read", "pages": "write", "id-token": "write"}
    build, deploy = workflow["jobs"]["build"], workflow["jobs"]["deploy"]
    runs = [step.get("run", "") for step in build["steps"]]
    assert any("mkdocs build --strict" in run for run in runs), runs
    assert any("'.[docs]'" in run for run in runs), runs  # the pinned site dependencies
    uses = [step.get("uses", "").split("@")[0] for step in build["steps"] + deploy["steps"]]
    assert "actions/upload-pages-artifact" in uses and "actions/deploy-pages" in uses
    assert deploy["needs"] == "build" and deploy["environment"]["name"] == "github-pages"


def test_site_url_is_set_in_one_place_and_the_tools_link_to_it(monkeypatch):
    monkeypatch.delenv("SCRYER_SITE_URL", raising=False)  # the published address; `make serve` sets its own
    site_url = load_config(str(ROOT / "mkdocs.yml"))["site_url"]
    assert site_url == problems.SITE_URL
    assert site_url.startswith("https://") and site_url.endswith("/")
    assert "SCRYER_SITE_URL" not in PAGES.read_text()  # the workflow publishes with the default


def links(env: dict[str, str]) -> list[str]:
    code = (
        "from scryer_runbook import problems; print(problems.runbook_url('not-ready', 'zh'), "
        "problems.runbook_url('permissions', 'en'))"
    )
    clean = {key: value for key, value in os.environ.items() if key != "SCRYER_DOCS_URL"}
    return subprocess.run(
        [sys.executable, "-c", code], env={**clean, **env}, capture_output=True, text=True, check=True
    ).stdout.split()


def test_links_point_at_the_published_site_unless_scryer_docs_url_says_otherwise():
    assert links({}) == [
        f"{problems.SITE_URL}runbooks/not-ready/",
        f"{problems.SITE_URL}en/runbooks/permissions/",
    ]
    assert links({"SCRYER_DOCS_URL": "http://127.0.0.1:8000/"}) == [
        "http://127.0.0.1:8000/runbooks/not-ready/",
        "http://127.0.0.1:8000/en/runbooks/permissions/",
    ]


def test_both_readmes_document_scryer_docs_url_for_make_serve():
    for readme in ("README.md", "README.zh.md"):
        text = (ROOT / readme).read_text(encoding="utf-8")
        assert "SCRYER_DOCS_URL=http://127.0.0.1:8000" in text and problems.SITE_URL in text, readme
        assert "SCRYER_LANG" in text, readme
