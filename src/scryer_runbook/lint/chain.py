"""Load an Alembic project's revisions (without a database) and pick the ones to lint."""

from __future__ import annotations

import os
import subprocess
import traceback
import warnings
from pathlib import Path

from alembic.script import ScriptDirectory

from scryer_runbook import diagnosis, problems
from scryer_runbook.i18n import _
from scryer_runbook.lint import source
from scryer_runbook.lint.report import shown_path
from scryer_runbook.lint.rules import Chain, Revision

# Folders that hold no application code of the project (virtual environments are found by their pyvenv.cfg).
SKIPPED_DIRS = {"node_modules", "site-packages", "__pycache__", "build", "dist", "site", "tests", "test"}


class CannotLint(Exception):
    """One line saying why the linter could not run (exit 2)."""


def load_scripts(config) -> ScriptDirectory:
    """The project's ScriptDirectory with every revision loaded; a revision that does not import is named."""
    with warnings.catch_warnings(record=True) as warned:
        warnings.simplefilter("always")
        try:
            script = diagnosis.scripts(config)
            script.revision_map.get_revisions("heads")  # imports every revision file
        except Exception as error:  # noqa: BLE001 - a syntax error, a failing import, a dangling down_revision
            raise CannotLint(_describe_load_error(error, config, warned)) from None
    return script


def _describe_load_error(error: Exception, config, warned) -> str:
    location = config.get_main_option("script_location")
    if not location:
        return _("{ini}: not a usable Alembic config: {reason}").format(
            ini=shown_path(config.config_file_name), reason=problems.first_line(error)
        )
    if isinstance(error, SyntaxError) and error.filename:
        return _("{file}: does not import: SyntaxError, line {line}: {message}").format(
            file=shown_path(error.filename), line=error.lineno, message=error.msg
        )
    folder = Path(location).resolve()  # relative to the current directory, as alembic resolves it
    files = [
        frame.filename
        for frame in traceback.extract_tb(error.__traceback__)
        if Path(frame.filename).suffix == ".py" and folder in Path(frame.filename).resolve().parents
    ]
    reason = f"{type(error).__name__}: {problems.first_line(error)}"
    if files:
        return _("{file}: does not import: {reason}").format(file=shown_path(files[-1]), reason=reason)
    if warned:
        reason = str(warned[-1].message)
    return _("the revisions in {folder} could not be loaded: {reason}").format(
        folder=shown_path(folder), reason=reason
    )


def build(script: ScriptDirectory, root: Path, scope: list[str] | None, changed: set[Path] | None) -> Chain:
    """The chain: every revision parsed; in scope, oldest first, those in ``scope`` (ids) and ``changed``
    (files; None = no limit). Application files are read for create-all (only the changed ones, if given)."""
    everything = {}
    for item in reversed(list(script.walk_revisions())):
        path = Path(item.path)
        parsed = source.read(path)
        down = (
            item.down_revision
            if isinstance(item.down_revision, tuple)
            else (item.down_revision,)
            if item.down_revision
            else ()
        )
        everything[item.revision] = Revision(item.revision, down, path, parsed, parsed.ops("upgrade"))
    chosen = [
        revision
        for revision in everything.values()
        if (scope is None or revision.id in scope) and (changed is None or revision.path.resolve() in changed)
    ]
    folders = [
        Path(folder).resolve()
        for folder in [*script.version_locations, script.dir, Path(script.dir) / "versions"]
    ]
    return Chain(chosen, everything, tuple(script.get_heads()), app_files(root, folders, changed), script)


def app_files(root: Path, migrations: list[Path], only: set[Path] | None) -> list[source.SourceFile]:
    """Python files under ``root`` that may run in the application: not migrations, tests or environments."""
    found = []
    for folder, dirs, files in os.walk(root):
        here = Path(folder)
        dirs[:] = [
            name
            for name in dirs
            if not name.startswith(".")
            and name not in SKIPPED_DIRS
            and not (here / name / "pyvenv.cfg").exists()
            and (here / name).resolve() not in migrations
        ]
        for name in sorted(files):
            path = here / name
            if (
                not name.endswith(".py")
                or name.startswith("test_")
                or name.endswith("_test.py")
                or name == "conftest.py"
                or (only is not None and path.resolve() not in only)
            ):
                continue
            text = path.read_text(encoding="utf-8", errors="replace")
            if "create_all" not in text:  # parse only the files that can match
                continue
            try:
                found.append(source.read(path))
            except (SyntaxError, ValueError):
                continue  # not ours to judge: Python itself reports it
    return found


def in_range(script: ScriptDirectory, text: str) -> list[str]:
    """Revision ids of ``A:B`` as `alembic upgrade A:B --sql` runs them (after A, up to B)."""
    lower, colon, upper = text.partition(":")
    if not colon:
        raise CannotLint(_("--range {range}: expected A:B (for example base:head)").format(range=text))
    try:
        revisions = list(script.iterate_revisions(upper or "heads", lower or "base"))
        start = (
            set()
            if lower in ("", "base")
            else {item.revision for item in script.revision_map.get_revisions(lower)}
        )
    except Exception as error:  # noqa: BLE001 - alembic's ResolutionError, CommandError, RangeNotAncestorError
        reason = problems.first_line(error)
        raise CannotLint(_("--range {range}: {reason}").format(range=text, reason=reason)) from None
    return [item.revision for item in revisions if item.revision not in start]


def changed_since(root: Path, ref: str) -> set[Path]:
    """Files under ``root`` added or changed since ``ref`` (from its merge base), committed or not."""

    def git(*args: str) -> str:
        done = subprocess.run(
            ["git", *args], cwd=root, capture_output=True, text=True, timeout=60, check=False
        )
        if done.returncode != 0:
            raise CannotLint(
                _("--since-ref {ref}: {reason}").format(
                    ref=ref, reason=(done.stderr.strip().splitlines() or ["git failed"])[0]
                )
            )
        return done.stdout

    base = git("merge-base", ref, "HEAD").strip()
    names = git("diff", "--name-only", "--relative", "--diff-filter=AM", "-z", base).split("\0")
    names += git("ls-files", "--others", "--exclude-standard", "-z").split("\0")
    return {(root / name).resolve() for name in names if name}
