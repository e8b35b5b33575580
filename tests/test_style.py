"""The style the project keeps: `ruff check` and `ruff format --check` (configured in pyproject.toml), clean."""

import subprocess
import sys

import pytest

from scryer_runbook.project import REPO_ROOT


@pytest.mark.parametrize("command", [["check"], ["format", "--check"]])
def test_ruff_is_clean(command):
    done = subprocess.run(
        [sys.executable, "-m", "ruff", *command, "."], cwd=REPO_ROOT, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr
