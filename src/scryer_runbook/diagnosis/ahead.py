"""The database is ahead of the code: recorded revisions the deployed scripts lack, and the code that has them.

Nothing here writes to a database. The code is looked up in the project's git history (every branch and tag),
the quickest place to find which release added a revision.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from alembic.script import ScriptDirectory

__all__ = ["RevisionSource", "unknown_revisions", "revision_source", "export_commit", "git"]


def git(project: Path | str, *args: str, env: dict | None = None) -> str:
    """``git -C project ARGS``'s output; raises ``subprocess.CalledProcessError`` (e.g. not a git checkout)."""
    return subprocess.run(
        ["git", "-C", str(project), *args],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, **(env or {})},
        timeout=60,
    ).stdout


def unknown_revisions(rows: list[str] | None, script: ScriptDirectory) -> list[str]:
    """The rows of ``alembic_version`` that none of the deployed scripts defines (Alembic: "Can't locate revision")."""
    known = {revision.revision for revision in script.walk_revisions()}
    return [row for row in rows or [] if row not in known]


@dataclass
class RevisionSource:
    """Where a revision lives in git: the commit that added it, its file, the tags and branches that contain it."""

    commit: str
    subject: str
    path: str  # relative to the repository's top folder
    refs: list[str]


def revision_source(project: Path | str, revision: str) -> RevisionSource | None:
    """The commit, on any branch or tag, that first defined ``revision``; None if ``project`` is not in a git
    checkout or no commit has it (the newer code then lives only in an image or another clone)."""
    try:
        found = git(project, "log", "--all", "--reverse", "--format=%h%x09%s", "-S", revision).splitlines()
    except (OSError, subprocess.CalledProcessError):
        return None
    pattern = rf"^revision(: *str)? *= *['\"]{revision}['\"]"
    for line in found:
        commit, subject = line.split("\t", 1)
        try:  # the commit that mentions the id first may only reference it (a down_revision): look for its file
            files = git(project, "grep", "--full-name", "-l", "-E", pattern, commit).splitlines()
        except subprocess.CalledProcessError:  # exit 1: no file in that commit defines it
            continue
        refs = git(project, "for-each-ref", "--contains", commit, "--format=%(refname:short)").split()
        return RevisionSource(commit, subject, files[0].split(":", 1)[1], refs)
    return None


def export_commit(project: Path | str, commit: str, destination: Path | str) -> Path:
    """The project as it is in ``commit``, written to ``destination`` (``git archive``; the checkout is untouched).

    Returns the folder of the project's ``alembic.ini`` inside it. Only files are written; no database is touched.
    """
    top = Path(git(project, "rev-parse", "--show-toplevel").strip())
    destination = Path(destination)
    destination.mkdir(parents=True, exist_ok=True)
    archive = subprocess.run(
        ["git", "-C", str(top), "archive", commit], capture_output=True, check=True, timeout=60
    )
    subprocess.run(["tar", "-x", "-C", str(destination)], input=archive.stdout, check=True, timeout=60)
    return destination / Path(project).resolve().relative_to(top.resolve())
