"""Each revision's upgrade SQL, rendered offline as `alembic upgrade prev:rev --sql` renders it (no server).

Every chunk Alembic writes is attributed to the line of the revision file that was running when it was
written (the caller's frame), so a squawk finding on line N of the SQL leads back to the `op.` call behind it.
Only SQL the revision itself produced is kept, plus the transaction boundaries (squawk needs them to judge
CONCURRENTLY); Alembic's own version-table statements are not the revision's to fix.
"""

from __future__ import annotations

import io
import sys
import traceback
from dataclasses import dataclass, field
from pathlib import Path

from alembic.config import Config
from alembic.runtime.environment import EnvironmentContext
from alembic.script import ScriptDirectory

from alembic import command
from scryer_runbook.diagnosis.project import no_files_left

TRANSACTION = ("BEGIN;", "COMMIT;")


@dataclass
class RenderedSQL:
    text: str = ""
    lines: list[int | None] = field(default_factory=list)  # per SQL line: the revision file's line, if known

    def source_line(self, sql_line: int) -> int | None:
        """The revision line behind a 0-based SQL line (squawk's JSON counts from 0)."""
        return self.lines[sql_line] if 0 <= sql_line < len(self.lines) else None


class _AttributingBuffer(io.StringIO):
    def __init__(self, path: Path):
        super().__init__()
        self.path = str(path)
        self.rendered = RenderedSQL()

    def write(self, text: str) -> int:
        line = self._caller_line()
        if line is not None or text.strip() in TRANSACTION:
            self.rendered.text += text
            self.rendered.lines.extend([line] * text.count("\n"))
        return len(text)

    def _caller_line(self) -> int | None:
        frame = sys._getframe(2)
        while frame is not None:
            if frame.f_code.co_filename == self.path:
                return frame.f_lineno
            frame = frame.f_back
        return None


def render(
    config: Config, script: ScriptDirectory, revision: str, down_revision: str | None, path: Path
) -> RenderedSQL:
    """``alembic upgrade <down>:<revision> --sql`` through the command API, captured and attributed.

    An env.py that cannot run offline (it needs its settings, or Flask's app context) is not the revision's
    fault: the revision is then rendered with a plain PostgreSQL context, since its own SQL does not depend on
    env.py. A failure inside the revision itself is raised.
    """
    target = f"{down_revision}:{revision}" if down_revision else revision
    buffer = _AttributingBuffer(path)
    saved = config.output_buffer
    config.output_buffer = buffer
    try:
        with no_files_left():
            command.upgrade(config, target, sql=True)
    except Exception as error:
        if any(frame.filename == str(path) for frame in traceback.extract_tb(error.__traceback__)):
            raise
        buffer = _AttributingBuffer(path)
        _render_without_env(config, script, down_revision, revision, buffer)
    finally:
        config.output_buffer = saved
    return buffer.rendered


def _render_without_env(
    config: Config, script: ScriptDirectory, start: str | None, destination: str, buffer: io.StringIO
) -> None:
    """What command.upgrade does, with our own context.configure() in place of env.py's."""

    def upgrade(rev, context):
        return script._upgrade_revs(destination, rev)

    with EnvironmentContext(
        config, script, fn=upgrade, as_sql=True, starting_rev=start, destination_rev=destination
    ) as context:
        context.configure(
            dialect_name="postgresql",
            literal_binds=True,
            transaction_per_migration=True,
            output_buffer=buffer,
        )
        with context.begin_transaction():
            context.run_migrations()
