"""Reading the Alembic side: CLI output made terse, revision ids, the single-head check, models and drift."""

from __future__ import annotations

from pathlib import Path

from alembic.script import ScriptDirectory
from sqlalchemy import MetaData

from scryer_runbook import urls
from scryer_runbook.diagnosis.core import READ_ONLY_OPTIONS
from scryer_runbook.project import REPO_ROOT


def terse(result):
    """A CLI result as it reads best at 3 a.m.: traceback frames dropped, the exception lines kept.

    Object addresses (``<... at 0x7f...>`` in `alembic check` output) become ``0x…`` so that the same failure prints
    the same text on every run.
    """
    import re  # noqa: PLC0415 - used only here

    from scryer_runbook.project import Result  # noqa: PLC0415

    starts = (
        "Traceback (most recent call last):",
        "The above exception was",
        "During handling of the above exception",
    )
    kept, frames = [], 0
    for line in result.output.splitlines():
        if line.startswith(starts) or (frames and (line.startswith(" ") or not line.strip())):
            frames += 1
            continue
        if frames:
            kept.append("[traceback omitted]")
            frames = 0
        kept.append(line)
    text = re.sub(
        r"\n\n(?=\[traceback omitted\])", "\n", "\n".join(kept)
    )  # the blank line before a chained traceback
    text = re.sub(r" at 0x[0-9a-f]+", " at 0x…", text)
    return Result(result.args, result.returncode, text)


def next_revision_id(script: ScriptDirectory, message: str) -> str | None:
    """A revision id in the project's ``NNN_words`` style (``006_merge_branches``); None if it uses Alembic's
    random ids.

    Alembic's own ids are random, so a notebook's output would change on every run; this one stays put, and it fits
    ``alembic_version.version_num`` (varchar 32).
    """
    import re  # noqa: PLC0415

    numbers = [match[1] for rev in script.walk_revisions() if (match := re.match(r"(\d+)_", rev.revision))]
    if not numbers:
        return None
    latest = max(numbers, key=int)
    words = re.sub(r"[^a-z0-9]+", "_", message.lower()).strip("_")
    return f"{int(latest) + 1:0{len(latest)}d}_{words}"[:32]


def single_head_test(project=REPO_ROOT) -> str | None:
    """pytest-alembic's ``test_single_head_revision`` (run by tests/test_migrations.py) on a project's scripts
    (``project``: an ``AlembicProject``, or a folder holding alembic.ini).

    Returns None when it passes, else its failure text. It reads the scripts only: no database is needed.
    """
    from pytest_alembic import runner  # noqa: PLC0415 - a test dependency, imported only when asked for
    from pytest_alembic.config import Config as TestConfig  # noqa: PLC0415
    from pytest_alembic.plugin.error import AlembicTestFailure  # noqa: PLC0415
    from pytest_alembic.tests import test_single_head_revision  # noqa: PLC0415

    if hasattr(project, "config"):  # an AlembicProject: script_location resolved (relative, Flask-Migrate)
        options = {
            "file": str(project.ini),
            "script_location": project.config().get_main_option("script_location"),
        }
    else:  # a folder holding alembic.ini
        options = {"file": str(Path(project) / "alembic.ini")}
    with runner(TestConfig(config_options=options)) as alembic_runner:
        try:
            test_single_head_revision(alembic_runner)
        except AlembicTestFailure as failure:
            return str(failure)
    return None


def read_only_url(url: str) -> str:
    """``url`` with ``default_transaction_read_only=on`` for every session: for `alembic check`/`current` against a
    real database, where the server itself then rejects any write (``cannot execute ... in a read-only
    transaction``). Never print it (it carries the password)."""
    from sqlalchemy.engine import make_url  # noqa: PLC0415

    parsed = make_url(urls.libpq(url))
    options = " ".join(filter(None, [parsed.query.get("options"), READ_ONLY_OPTIONS]))
    return parsed.update_query_dict({"options": options}).render_as_string(hide_password=False)


def project_metadata(project: Path = REPO_ROOT, module: str = "src.backend.app.models") -> MetaData:
    """The models' ``metadata`` of an Alembic project folder, imported from that folder the way its env.py does.

    For a project copy whose models were edited: this process's own ``src`` modules (if any) are set aside while
    the copy's are imported, and put back afterwards (``project_imports``, as the doctor reads env.py).
    """
    import importlib  # noqa: PLC0415

    from scryer_runbook.diagnosis.project import project_imports  # noqa: PLC0415

    with project_imports([str(project)]):
        return importlib.import_module(module).metadata


def _default_text(value) -> str:
    if value is None:
        return "none"
    arg = getattr(value, "arg", value)  # a DefaultClause wraps the SQL text
    return str(getattr(arg, "text", arg))


def describe_drift(diffs: list) -> list[str]:
    """``drift()``/compare_metadata's operations as one plain line each (no object reprs, stable from run to run)."""
    lines = []
    for diff in diffs:
        for op in diff if isinstance(diff, list) else [diff]:
            kind = op[0]
            if kind in ("add_column", "remove_column"):
                column = op[3]
                lines.append(
                    f"{kind} {op[2]}.{column.name} {column.type}{'' if column.nullable else ' NOT NULL'}"
                )
            elif kind.startswith("modify_"):
                old, new = op[5], op[6]
                if kind == "modify_default":
                    old, new = _default_text(old), _default_text(new)
                lines.append(f"{kind} {op[2]}.{op[3]}: {old} -> {new}")
            elif kind in ("add_table", "remove_table"):
                lines.append(f"{kind} {op[1].name}")
            elif kind in (
                "add_index",
                "remove_index",
                "add_constraint",
                "remove_constraint",
                "add_fk",
                "remove_fk",
            ):
                item = op[1]
                columns = ", ".join(column.name for column in item.columns)
                what = type(item).__name__.replace("Constraint", "").upper() or "CONSTRAINT"
                lines.append(f"{kind} {what} {item.name or '(unnamed)'} on {item.table.name} ({columns})")
            else:
                import re  # noqa: PLC0415

                lines.append(re.sub(r" at 0x[0-9a-f]+", "", repr(op)))
    return lines
