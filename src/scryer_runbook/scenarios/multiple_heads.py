"""Reproduce steps for the multiple-heads runbook: two revisions on one parent, as two merged git branches leave them.

The two revisions are files (``projects/multiple-heads/``), copied into a throwaway project copy.
"""

from __future__ import annotations

import shutil
from pathlib import Path

BRANCHES = Path(__file__).parent / "projects" / "multiple-heads"


def branch_scripts(project: Path) -> list[str]:
    """Add two revisions on the same parent (004) to a throwaway project copy (never the repository's own)."""
    versions = Path(project) / "alembic" / "versions"
    added = []
    for source in sorted(BRANCHES.glob("*.py")):
        shutil.copy2(source, versions / source.name)
        added.append(source.stem)
    return added
