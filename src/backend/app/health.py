"""What GET /health reports (the guide's 健康检查): the database connection, the schema at head, the app itself."""

from __future__ import annotations

from pathlib import Path

from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, pool
from sqlalchemy.engine import URL

from src.backend.app import settings

ALEMBIC_INI = Path(__file__).resolve().parents[3] / "alembic.ini"


def script_heads(config_file: Path = ALEMBIC_INI) -> tuple[str, ...]:
    """The head revision(s) of the migration scripts this app was built with."""
    return tuple(ScriptDirectory.from_config(Config(str(config_file))).get_heads())


def check(url: URL, heads: tuple[str, ...]) -> tuple[bool, dict[str, str]]:
    """(healthy, report). Connects as the app's role: what the app can see is what counts."""
    report = {"database": "ok", "schema": "unknown", "app": "ok"}
    engine = create_engine(url, poolclass=pool.NullPool, connect_args={"connect_timeout": 3})
    try:
        connection = engine.connect()
    except Exception as error:  # noqa: BLE001 - any failure is the answer, not a crash
        report["database"] = settings.first_line(error)
        return False, report
    with connection:  # NullPool: closing it closes the server session
        try:
            current = MigrationContext.configure(connection).get_current_heads()
        except Exception as error:  # noqa: BLE001 - e.g. permission denied for table alembic_version
            report["schema"] = f"cannot read the schema version: {settings.first_line(error)}"
            return False, report
    head = ", ".join(heads)
    if set(current) == set(heads):
        report["schema"] = f"at head {head}"
        return True, report
    report["schema"] = (f"not at head: at {', '.join(current)}, head is {head}" if current
                        else f"not migrated (no alembic_version row), head is {head}")
    return False, report
