"""Running a runbook notebook in incident mode the way the docs say to: the URL in an environment variable."""

from __future__ import annotations

import os

from scryer_runbook import notebooks

TARGET_ENV = "SCRYER_TEST_TARGET_URL"


def run_incident(path, url: str, **parameters):
    """Execute ``path`` against ``url`` with ``target_url_env`` (the kernel inherits this process's environment), so
    no password is ever a papermill parameter; English output unless ``lang`` is given."""
    os.environ[TARGET_ENV] = url
    try:
        return notebooks.execute(path, {"target_url_env": TARGET_ENV, "lang": "en", **parameters})
    finally:
        os.environ.pop(TARGET_ENV, None)
