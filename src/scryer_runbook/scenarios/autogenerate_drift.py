"""Reproduce steps for the autogenerate-drift runbook: model changes autogenerate gets wrong, in a project copy."""

from __future__ import annotations

import difflib
import re
from pathlib import Path

import psycopg

from scryer_runbook.project import REPO_ROOT, alembic


def edit_model(project: Path, model: str, old: str, new: str) -> None:
    """Change one line of a model in a project copy, as a developer would before running autogenerate."""
    path = Path(project) / "src" / "backend" / "app" / "models" / f"{model}.py"
    text = path.read_text()
    if old not in text:
        raise ValueError(f"{old!r} not found in {path.name}")
    path.write_text(text.replace(old, new, 1))


def rename_username_to_login(project: Path) -> None:
    """A rename: autogenerate cannot see it and proposes drop + add (losing the data)."""
    edit_model(project, "user", "    username = Column(", "    login = Column(")


def add_server_default_to_is_active(project: Path) -> None:
    """A server default: seen only because env.py turns on compare_server_default (Alembic's default is off)."""
    edit_model(
        project,
        "user",
        "is_active = Column(Boolean, default=True)",
        "is_active = Column(Boolean, default=True, server_default=text('true'))",
    )
    edit_model(
        project,
        "user",
        "from sqlalchemy import Column, String, Boolean",
        "from sqlalchemy import Column, String, Boolean, text",
    )


def latest_revision_file(project: Path) -> Path:
    """The newest file in the copy's versions folder (the one `alembic revision` just wrote)."""
    return max((Path(project) / "alembic" / "versions").glob("*.py"), key=lambda p: p.stat().st_mtime_ns)


def substitute(text: str, pattern: str, replacement: str, where: str, count: int = 1) -> str:
    """``re.sub`` of exactly ``count`` matches, or a ValueError: an edit whose anchor is no longer in what Alembic
    wrote must fail, not pass silently."""
    text, made = re.subn(pattern, replacement, text, count=count)
    if made != count:
        raise ValueError(
            f"{pattern!r} found {made} time(s) in {where}, {count} expected: did Alembic's output change?"
        )
    return text


def rewrite_drop_add_as_rename(path: Path, table: str, old: str, new: str) -> None:
    """The fix for a rename: replace autogenerate's add_column/drop_column pair by alter_column(new_column_name)."""
    path = Path(path)
    upgrade, downgrade = path.read_text().split("def downgrade()")
    pair = r"\n\s*op\.(add|drop)_column\(.*\)"
    upgrade = substitute(upgrade, pair, "", f"{path.name} upgrade()", count=2)
    upgrade = substitute(
        upgrade,
        re.escape('"""Upgrade schema."""'),
        f'"""Upgrade schema."""\n    op.alter_column({table!r}, {old!r}, new_column_name={new!r})',
        f"{path.name} upgrade()",
    )
    downgrade = substitute(downgrade, pair, "", f"{path.name} downgrade()", count=2)
    downgrade = substitute(
        downgrade,
        re.escape('"""Downgrade schema."""'),
        f'"""Downgrade schema."""\n    op.alter_column({table!r}, {new!r}, new_column_name={old!r})',
        f"{path.name} downgrade()",
    )
    path.write_text(upgrade + "def downgrade()" + downgrade)


def database_at_head_with_a_user(url: str, project: Path) -> None:
    """The starting point: the database at head (models and database agree) holding one user, ada."""
    alembic("upgrade", "head", url=url, project=project, check=True)
    with psycopg.connect(url) as conn:
        conn.execute(
            "INSERT INTO users (id, username, email) VALUES (gen_random_uuid(), 'ada', 'ada@example.com')"
        )


def model_diff(project: Path, model: str = "user") -> str:
    """The unified diff of one model between this repository and a project copy (what the developer changed)."""
    relative = f"src/backend/app/models/{model}.py"
    before = (REPO_ROOT / relative).read_text().splitlines(keepends=True)
    after = (Path(project) / relative).read_text().splitlines(keepends=True)
    return "".join(difflib.unified_diff(before, after, f"a/{relative}", f"b/{relative}")).rstrip()


def compare_server_default(project: Path, on: bool) -> None:
    """Set env.py's ``compare_server_default`` in a project copy (Alembic's own default is off; this repo's is on)."""
    path = Path(project) / "alembic" / "env.py"
    text = path.read_text()
    old, new = f"compare_server_default={not on}", f"compare_server_default={on}"
    if old in text:
        path.write_text(text.replace(old, new, 1))
    elif new not in text:
        raise ValueError(f"compare_server_default not set in {path.name}")


def revision_files(project: Path) -> set[Path]:
    return set((Path(project) / "alembic" / "versions").glob("*.py"))


def revision_body(path: Path) -> str:
    """A revision file from ``def upgrade`` on: what runs, without the header."""
    text = Path(path).read_text()
    return text[text.index("def upgrade") :].rstrip()


# What a revision's upgrade() may do that loses data, or breaks the application while a rolling deploy still runs
# the old code next to the new: (pattern, why). The first two drop data; the rest need a human decision.
RISKY = [
    (r"op\.drop_column\(", "drops a column and its data (a rename? autogenerate writes drop + add)"),
    (r"op\.drop_table\(", "drops a table and its data"),
    (
        r"new_column_name=",
        "renames a column: replicas still running the old code fail on the old name "
        "(expand / migrate / contract)",
    ),
    (r"op\.rename_table\(", "renames a table: replicas still running the old code fail (expand / contract)"),
    (r"op\.drop_constraint\(", "drops a constraint: the data it protected is no longer checked"),
    (
        r"op\.alter_column\([^\n]*type_=",
        "changes a column's type: a table rewrite under ACCESS EXCLUSIVE, and old "
        "code may not read the new type",
    ),
    (
        r"op\.create_index\((?![^\n]*postgresql_concurrently=True)",
        "builds an index without CONCURRENTLY: writes to the table wait until it is built",
    ),
    (r"op\.execute\(", "raw SQL: autogenerate and the schema comparison cannot see what it does"),
]
DROPS_DATA = RISKY[:2]


def risky_operations(path: Path, risks: list = RISKY) -> list[str]:
    """The lines of a revision's upgrade() that lose data or break a rolling deploy, each with the reason."""
    upgrade = Path(path).read_text().split("def downgrade")[0]
    return [
        f"{line.strip()}  # {why}"
        for line in upgrade.splitlines()
        for pattern, why in risks
        if re.search(pattern, line)
    ]


def destructive_operations(path: Path) -> list[str]:
    """The lines of a revision's upgrade() that throw data away (drop_column / drop_table): such a revision must be
    edited by a human before it runs anywhere."""
    return [line.split("  # ")[0] for line in risky_operations(path, DROPS_DATA)]


def relax_not_null(path: Path, column: str) -> None:
    """The tempting "fix" after ``NotNullViolation``: make the added column nullable. The migration then runs, and the
    dropped column's data is gone."""
    path = Path(path)
    text = path.read_text()
    upgrade, rest = text.split("def downgrade", 1)
    pattern = rf"(op\.add_column\([^\n]*sa\.Column\({column!r}, [^\n]*nullable=)False"
    if not re.search(pattern, upgrade):
        raise ValueError(f"no NOT NULL add_column for {column!r} in {path.name}")
    path.write_text(re.sub(pattern, r"\1True", upgrade, count=1) + "def downgrade" + rest)


def drop_unique_constraint_churn(path: Path, table: str, old: str, new: str) -> None:
    """Finish a rename edit: autogenerate also drops the old column's UNIQUE constraint and adds an unnamed one on the
    new column. After ``alter_column(new_column_name=...)`` the constraint simply follows the column, so both are
    removed, in upgrade() and downgrade() (whose ``drop_constraint(None, ...)`` could not run anyway)."""
    path = Path(path)
    key = re.escape(f"{table}_{old}_key")
    text = path.read_text()
    for pattern in (
        rf"\n[ \t]*op\.drop_constraint\(op\.f\('{key}'\), '{table}', type_='unique'\)",
        rf"\n[ \t]*op\.create_unique_constraint\(None, '{table}', \['{new}'\]\)",
        rf"\n[ \t]*op\.drop_constraint\(None, '{table}', type_='unique'\)",
        rf"\n[ \t]*op\.create_unique_constraint\(op\.f\('{key}'\), '{table}', \['{old}'\][^\n]*\)",
    ):
        text = substitute(text, pattern, "", path.name)
    # Alembic's comment over the unnamed constraint goes with it (its wording is Alembic's to change: optional)
    text = re.sub(r"\n[ \t]*# WARNING: constraint name is None;[^\n]*(\n[ \t]*#[^\n]*)*", "", text, count=1)
    path.write_text(text)
