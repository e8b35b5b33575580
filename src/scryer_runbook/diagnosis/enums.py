"""PostgreSQL ENUM types as the database has them and as the models declare them.

Autogenerate compares neither the labels nor the types themselves (sqlalchemy/alembic#868), so `alembic check`
passes while a label the code writes is missing from the database; this is where the difference shows.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from psycopg import sql

from scryer_runbook.i18n import _

__all__ = [
    "ENUMS_SQL",
    "EnumType",
    "database_enums",
    "model_enums",
    "enum_drift",
    "show_enums",
    "add_label_statements",
]

# Every enum type of a schema, its labels in order, and the table columns that use it (shown on the page).
ENUMS_SQL = """
SELECT t.typname,
       array_agg(e.enumlabel ORDER BY e.enumsortorder) AS labels,
       coalesce((SELECT array_agg(c.relname || '.' || a.attname)
                 FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
                 WHERE a.atttypid = t.oid AND a.attnum > 0 AND NOT a.attisdropped
                   AND c.relkind IN ('r', 'p')), '{}') AS used_by
FROM pg_type t JOIN pg_enum e ON e.enumtypid = t.oid
WHERE t.typnamespace = to_regnamespace(%s)
GROUP BY t.oid, t.typname
ORDER BY t.typname
"""


@dataclass(frozen=True)
class EnumType:
    name: str
    labels: list[str]
    used_by: list[str]  # "table.column"


def database_enums(conn, schema: str = "public") -> list[EnumType]:
    rows = conn.execute(ENUMS_SQL, [schema])
    return [EnumType(name, labels, sorted(used_by)) for name, labels, used_by in rows]


def model_enums(metadata) -> dict[str, list[str]]:
    """The native enum types the models declare: {type name: labels}. ``metadata``: a MetaData, env.py's list
    of them, or None (the models could not be read)."""
    found: dict[str, list[str]] = {}
    items = metadata if isinstance(metadata, list | tuple) else [metadata] if metadata is not None else []
    tables = [table for item in items for table in item.tables.values()]
    for table in tables:
        for column in table.columns:
            kind = column.type
            if isinstance(kind, sa.Enum) and kind.native_enum and kind.name and kind.enums:
                found.setdefault(kind.name, list(kind.enums))
    return found


def enum_drift(database: list[EnumType], models: dict[str, list[str]]) -> list[tuple[str, str, list[str]]]:
    """What autogenerate does not report: (type, kind, labels), kind one of ``missing-type`` (in the models
    only), ``missing-labels`` (labels the models have and the database lacks), ``extra-labels`` (the reverse),
    ``unused-type`` (no column uses it: a later CREATE TYPE fails with "already exists")."""
    found = {item.name: item for item in database}
    drift = []
    for name, labels in sorted(models.items()):
        if name not in found:
            drift.append((name, "missing-type", labels))
            continue
        missing = [label for label in labels if label not in found[name].labels]
        extra = [label for label in found[name].labels if label not in labels]
        if missing:
            drift.append((name, "missing-labels", missing))
        if extra:
            drift.append((name, "extra-labels", extra))
    drift += [(item.name, "unused-type", item.labels) for item in database if not item.used_by]
    return drift


DRIFT_TEXT = {
    "missing-type": "type {name}: declared by the models, missing in the database (labels {labels})",
    "missing-labels": "type {name}: labels {labels} are in the models but not in the database; "
    "the app fails with invalid input value for enum {name}",
    "extra-labels": "type {name}: labels {labels} are in the database but not in the models "
    "(PostgreSQL cannot drop a label; harmless unless rows use them)",
    "unused-type": "type {name} ({labels}) is used by no column: left behind by a downgrade or a failed "
    "revision; the next CREATE TYPE {name} fails with already exists",
}


def show_enums(database: list[EnumType], drift: list[tuple[str, str, list[str]]]) -> None:
    for item in database:
        print(
            _("type {name}: {labels}, used by {columns}").format(
                name=item.name,
                labels=", ".join(item.labels),
                columns=", ".join(item.used_by) or _("no column"),
            )
        )
    if not database:
        print(_("no enum type in this schema"))
    for name, kind, labels in drift:
        print("=> " + _(DRIFT_TEXT[kind]).format(name=name, labels=", ".join(labels)))
    if not drift:
        print(_("the database's enum types and labels match the models"))


def add_label_statements(drift: list[tuple[str, str, list[str]]]) -> list[sql.Composed]:
    """``ALTER TYPE ... ADD VALUE IF NOT EXISTS`` for every label the models have and the database lacks."""
    statement = sql.SQL("ALTER TYPE {} ADD VALUE IF NOT EXISTS {}")
    return [
        statement.format(sql.Identifier(name), sql.Literal(label))
        for name, kind, labels in drift
        if kind == "missing-labels"
        for label in labels
    ]
