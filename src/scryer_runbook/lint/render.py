"""Each revision's upgrade SQL, rendered offline as `alembic upgrade prev:rev --sql` renders it (no server).

Every chunk Alembic writes is attributed to the line of the revision file that was running when it was
written (the caller's frame), so a squawk finding on line N of the SQL leads back to the `op.` call behind it.
Only SQL the revision itself produced is kept, plus the transaction boundaries (squawk needs them to judge
CONCURRENTLY); Alembic's own version-table statements are not the revision's to fix.
"""

from __future__ import annotations

import io
import sys
from dataclasses import dataclass, field
from pathlib import Path

from alembic import command
from alembic.config import Config

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


def render(config: Config, revision: str, down_revision: str | None, path: Path) -> RenderedSQL:
    """``alembic upgrade <down>:<revision> --sql`` through the command API, captured and attributed."""
    buffer = _AttributingBuffer(path)
    saved = config.output_buffer
    config.output_buffer = buffer
    try:
        command.upgrade(config, f"{down_revision}:{revision}" if down_revision else revision, sql=True)
    finally:
        config.output_buffer = saved
    return buffer.rendered
