"""Faults that must not lose anything: a killed migration, a notebook that dies midway."""

import os
import signal
import subprocess
import sys
import time

import nbformat
import papermill
import psycopg
import pytest

from scryer_runbook import diagnosis, project, sandbox

pytestmark = pytest.mark.slow  # a migration killed midway, a notebook failing midway

SLOW_REVISION = '''"""slow: adds a column, then takes its time"""
import os
from alembic import op
import sqlalchemy as sa

revision = "005_slow"
down_revision = "004_index_tasks_created_at"
branch_labels = depends_on = None


def upgrade():
    op.add_column("users", sa.Column("nickname", sa.String(50)))
    op.execute(f"SELECT pg_sleep({os.environ.get('SLOW_SECONDS', '0')})")


def downgrade():
    op.drop_column("users", "nickname")
'''


def wait_for(predicate, timeout=10.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_killed_migration_leaves_previous_revision_and_rerun_succeeds(empty_db, tmp_path):
    """kill -9 of `alembic upgrade` mid-revision: the revision's DDL is rolled back, the rerun applies it."""
    copy = project.copy_project(tmp_path)
    (copy / "alembic" / "versions" / "005_slow.py").write_text(SLOW_REVISION)
    project.alembic("upgrade", "004_index_tasks_created_at", url=empty_db, project=copy, check=True)
    client = subprocess.Popen(
        [sys.executable, "-m", "alembic", "upgrade", "head"],
        cwd=copy,
        env={**os.environ, "DATABASE_URL": empty_db, "SLOW_SECONDS": "2"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    with psycopg.connect(empty_db, autocommit=True) as watcher:
        wait_for(
            lambda: watcher.execute(
                "SELECT 1 FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep%%'"
            ).fetchone()
        )
        os.kill(client.pid, signal.SIGKILL)
        client.wait()
        with diagnosis.connect(empty_db) as conn:
            assert diagnosis.version_rows(conn) == ["004_index_tasks_created_at"]
            # (the catalog, not the table: the orphan still holds ACCESS EXCLUSIVE on users)
            assert not conn.execute(
                "SELECT 1 FROM pg_attribute WHERE attrelid = 'users'::regclass AND attname = 'nickname'"
            ).fetchone()
    # The orphaned server session still holds the migration lock until its statement ends; the rerun waits for it.
    rerun = project.alembic("upgrade", "head", url=empty_db, project=copy)
    assert rerun.returncode == 0, rerun.output
    with diagnosis.connect(empty_db) as conn:
        assert diagnosis.version_rows(conn) == ["005_slow"]
        assert "users.nickname" in str(diagnosis.schema_snapshot(conn))


FAILING_NOTEBOOK = [
    "from scryer_runbook.runbook import Runbook\nrb = Runbook('already-exists')\n"
    "role, _ = rb.sandbox.role('midway')\nprint(rb.url.rsplit('/', 1)[1], role)",
    "raise RuntimeError('a cell failed midway')",
    "rb.close()",
]


def test_notebook_failing_midway_leaves_no_scratch_database_or_role(tmp_path):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source) for source in FAILING_NOTEBOOK])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    source, output = tmp_path / "fails.ipynb", tmp_path / "out.ipynb"
    nbformat.write(nb, source)
    with pytest.raises(papermill.PapermillExecutionError, match="a cell failed midway"):
        papermill.execute_notebook(
            str(source), str(output), kernel_name="python3", progress_bar=False, cwd=str(tmp_path)
        )
    first = next(c for c in nbformat.read(output, as_version=4).cells if c.cell_type == "code")
    database, role = first.outputs[0]["text"].split()
    databases, roles = sandbox.leftovers(os.environ["DATABASE_URL"])
    assert database not in databases and role not in roles
