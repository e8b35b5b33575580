"""squawk (the `squawk-cli` package, pinned in pyproject.toml) on each revision's rendered SQL, JSON reporter.

The rules it runs are squawk's defaults minus ``EXCLUDED`` below; the site's "Prevent: lint before merge" page
lists both tables with the reasons (tests/test_lint.py keeps the page and these tables in step).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

# squawk's default rules we keep, and why each matters for a migration that runs while the app serves traffic.
ENABLED = {
    "adding-field-with-default": "a volatile default rewrites the whole table under an ACCESS EXCLUSIVE lock",
    "adding-foreign-key-constraint": "validating a new foreign key locks both tables; add it NOT VALID, then "
    "VALIDATE CONSTRAINT",
    "adding-not-nullable-field": "SET NOT NULL scans the whole table under an ACCESS EXCLUSIVE lock",
    "adding-serial-primary-key-field": "adding a serial primary key rewrites the table and builds the index "
    "under a lock",
    "changing-column-type": "most type changes rewrite the table and its indexes under an ACCESS EXCLUSIVE "
    "lock",
    "constraint-missing-not-valid": "a new CHECK or foreign key is validated under a lock; add it NOT VALID "
    "first",
    "disallowed-unique-constraint": "a UNIQUE constraint builds its index while blocking writes; build the "
    "index CONCURRENTLY, then add the constraint USING INDEX",
    "require-concurrent-index-deletion": "DROP INDEX without CONCURRENTLY blocks reads and writes on the "
    "table",
    "require-concurrent-reindex": "REINDEX without CONCURRENTLY blocks writes",
    "require-concurrent-partition-detach": "DETACH PARTITION without CONCURRENTLY locks the parent table",
    "ban-drop-column": "the running application still selects the column (expand / contract: drop it in a "
    "later release)",
    "ban-drop-table": "the running application still uses the table",
    "ban-drop-not-null": "old application code may rely on the column never being NULL",
    "ban-drop-default": "the running application may insert rows without the column, relying on its default",
    "ban-drop-constraint": "the running application may rely on the guarantee (uniqueness, a reference)",
    "ban-drop-view": "the running application may still query the view",
    "ban-drop-function": "the running application (or a trigger, a default) may still call the function",
    "ban-drop-type": "columns and code may still use the type",
    "ban-drop-domain": "columns may still use the domain",
    "ban-drop-sequence": "a column default or the application may still draw from the sequence",
    "ban-drop-schema": "the running application may still use the objects in it",
    "ban-drop-extension": "dropping an extension also drops its functions and types, which code may still "
    "use",
    "ban-drop-generated-expression": "the column stops being computed while the running application relies "
    "on it",
    "ban-alter-identity": "changing a column's identity may break the running application's inserts",
    "ban-set-schema": "the running application still finds the object under its old schema",
    "renaming-object": "renaming an index, sequence or other object breaks what still names it (code, later "
    "migrations)",
    "ban-duplicate-column-assignments": "PostgreSQL rejects an UPDATE that assigns the same column twice",
    "ban-drop-database": "never in a migration",
    "ban-truncate-cascade": "TRUNCATE ... CASCADE empties every table that references this one",
    "ban-char-field": "char(n) pads with spaces; use text or varchar",
    "prefer-timestamp-tz": "timestamp without time zone stores wall-clock times that shift with the server's "
    "time zone",
    "transaction-nesting": "a BEGIN or COMMIT in a revision breaks the transaction Alembic runs it in",
    "ban-uncommitted-transaction": "a BEGIN without COMMIT leaves the revision's work uncommitted",
    "ban-create-domain-with-constraint": "domain constraints are checked, under locks, on every column that "
    "uses the domain",
    "ban-alter-domain-with-add-constraint": "adding a domain constraint validates every column using it",
    "identifier-too-long": "PostgreSQL truncates names longer than 63 bytes, so a later migration names the "
    "wrong object",
    "require-enum-value-ordering": "ALTER TYPE ... ADD VALUE without BEFORE/AFTER appends, which may not be "
    "the order the code expects",
}

# squawk's default rules we switch off, and why.
EXCLUDED = {
    "require-concurrent-index-creation": "replaced by index-not-concurrent, which knows from the chain "
    "whether the table already exists",
    "ban-concurrent-index-creation-in-transaction": "replaced by concurrently-in-transaction, which points "
    "at the call and knows autocommit_block()",
    "renaming-column": "replaced by rename, which points at the op.alter_column call",
    "renaming-table": "replaced by rename",
    "adding-required-field": "replaced by not-null-without-default, which knows whether the table is new",
    "prefer-robust-stmts": "Alembic runs each revision in a transaction and records it in the version table: "
    "a failed revision rolls back whole, and IF NOT EXISTS would only hide drift",
    "require-lock-timeout": "timeouts are session settings that env.py sets (Scryer's env.py reads "
    "lock_timeout from alembic.ini), so the rendered SQL never shows them",
    "require-statement-timeout": "as require-lock-timeout",
    "prefer-text-field": "varchar(n) is SQLAlchemy's String(n) and a valid length check; the lock the rule "
    "warns about comes with a later ALTER, which changing-column-type flags",
    "prefer-bigint-over-int": "flags every integer column, not only keys that grow; choose per column",
    "prefer-bigint-over-smallint": "as prefer-bigint-over-int",
    "prefer-identity": "SQLAlchemy renders an Integer primary key as SERIAL; a style choice, not an incident",
}

INSTALL = "pip install squawk-cli"


class SquawkMissing(Exception):
    pass


@dataclass(frozen=True)
class Violation:
    file: str
    line: int  # 0-based, as squawk reports it
    rule: str
    message: str
    help: str | None


def binary() -> str:
    """The squawk next to this interpreter (a venv's bin may not be on PATH), else on PATH."""
    beside = Path(sys.executable).parent / "squawk"
    found = str(beside) if beside.exists() else shutil.which("squawk")
    if not found:
        raise SquawkMissing(f"squawk is not installed ({INSTALL})")
    return found


def run(files: list[Path], exclude: set[str]) -> list[Violation]:
    """Lint ``files``; an empty list when squawk finds nothing."""
    if not files:
        return []
    args = [binary(), "--reporter", "json", "--no-error-on-unmatched-pattern"]
    if exclude:
        args.append(f"--exclude={','.join(sorted(exclude))}")
    # In the files' own folder, so no .squawk.toml of the current directory changes what runs.
    done = subprocess.run(
        [*args, *(file.name for file in files)],
        cwd=files[0].parent,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if done.returncode not in (0, 1):
        raise RuntimeError(f"squawk failed (exit {done.returncode}): {done.stderr.strip()[:200]}")
    return [
        Violation(item["file"], item["line"], item["rule_name"], item["message"], item.get("help"))
        for item in json.loads(done.stdout)
    ]
