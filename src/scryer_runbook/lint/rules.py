"""The checks only an Alembic-aware linter can make: each knows the chain, not just one file of SQL.

Every rule is a function ``rule(chain) -> Iterable[Finding]`` registered with ``@rule(name)``, in report
order; its docstring says why it exists (the site page gives the same reasons).
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from scryer_runbook.i18n import _
from scryer_runbook.lint import source
from scryer_runbook.lint.report import Finding

if TYPE_CHECKING:
    from alembic.script import ScriptDirectory

VERSION_WIDTH = 32  # alembic_version.version_num is varchar(32) unless env.py says otherwise
CREATE_INDEX = re.compile(
    r"^\s*CREATE\s+(?:UNIQUE\s+)?INDEX\s+(?!CONCURRENTLY\b)(?:IF\s+NOT\s+EXISTS\s+)?"
    r"(?:\w+\s+)?ON\s+(?:ONLY\s+)?\"?(\w+)",
    re.I,
)
CREATE_TABLE = re.compile(r"^\s*CREATE\s+(?:UNLOGGED\s+)?TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?\"?(\w+)", re.I)
RENAME = re.compile(r"^\s*ALTER\s+TABLE\b.*\bRENAME\b", re.I | re.S)
CONCURRENTLY = re.compile(r"\bCONCURRENTLY\b", re.I)


@dataclass
class Revision:
    id: str
    down: tuple[str, ...]
    path: Path
    file: source.SourceFile
    ops: list[source.OpCall] = field(default_factory=list)  # in upgrade()

    def created_tables(self) -> set[str]:
        tables = {op.table(0, "table_name") for op in self.ops if op.name == "create_table"}
        tables |= {
            match.group(1)
            for op in self.ops
            if op.name == "execute"
            for match in [CREATE_TABLE.match(op.text() or "")]
            if match
        }
        return tables - {None}

    def finding(self, line: int, message: str, advice: str) -> Finding:
        return Finding(self.path, line, message, advice, revision=self.id)


@dataclass
class Chain:
    revisions: list[Revision]  # in scope, oldest first
    everything: dict[str, Revision]  # every revision of the project, by id
    heads: tuple[str, ...]
    app_files: list[source.SourceFile]  # Python files outside the migrations folder, for create-all
    script: ScriptDirectory | None = None

    def created_by(self, revision: Revision) -> dict[str, str]:
        """table -> the ancestor revision that created it."""
        tables: dict[str, str] = {}
        seen, todo = set(), list(revision.down)
        while todo:
            current = self.everything.get(todo.pop())
            if current is None or current.id in seen:
                continue
            seen.add(current.id)
            tables.update(dict.fromkeys(current.created_tables(), current.id))
            todo.extend(current.down)
        return tables


@dataclass(frozen=True)
class Rule:
    name: str
    check: Callable[[Chain], Iterable[Finding]]

    @property
    def why(self) -> str:
        return " ".join((self.check.__doc__ or "").split())


RULES: dict[str, Rule] = {}


def rule(name: str):
    def register(check: Callable[[Chain], Iterable[Finding]]):
        RULES[name] = Rule(name, check)
        return check

    return register


def run(chain: Chain, disabled: set[str]) -> list[Finding]:
    return [
        replace(found, rule=name)
        for name, item in RULES.items()
        if name not in disabled
        for found in item.check(chain)
    ]


@rule("revision-id-too-long")
def revision_id_too_long(chain: Chain) -> Iterable[Finding]:
    """Alembic's version table stores the id in varchar(32): a longer id (`--rev-id`, or a slug used as id)
    makes `alembic upgrade` fail after the revision's DDL ran, with "value too long for type character
    varying(32)"."""
    message = _("revision id {id!r} has {length} characters; alembic_version.version_num holds {width}")
    for revision in chain.revisions:
        if len(revision.id) > VERSION_WIDTH:
            found = message.format(id=revision.id, length=len(revision.id), width=VERSION_WIDTH)
            yield revision.finding(revision.file.assignment_line("revision"), found, _("use a shorter id"))


@rule("missing-downgrade")
def missing_downgrade(chain: Chain) -> Iterable[Finding]:
    """During an incident the way back is `alembic downgrade -1`; a revision whose upgrade changes the schema
    but whose downgrade is missing or empty makes that command succeed and leave the schema as it was. An
    irreversible revision says so: it raises in downgrade(), or disables this rule with a reason."""
    for revision in chain.revisions:
        if not any(source.is_schema_change(op) for op in revision.ops):
            continue
        function = revision.file.function("downgrade")
        if function is None:
            yield revision.finding(
                revision.file.function("upgrade").lineno,
                _("upgrade() changes the schema and there is no downgrade()"),
                _("write downgrade(), or raise in it if the change cannot be undone"),
            )
        elif all(_is_filler(statement) for statement in function.body):
            yield revision.finding(
                function.lineno,
                _("upgrade() changes the schema and downgrade() does nothing"),
                _("undo the upgrade's operations in reverse order, or raise if they cannot be undone"),
            )


def _is_filler(statement: ast.stmt) -> bool:
    """``pass``, a docstring or ``...``: a body that does nothing."""
    return isinstance(statement, ast.Pass) or (
        isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Constant)
    )


@rule("data-and-schema-change")
def data_and_schema_change(chain: Chain) -> Iterable[Finding]:
    """A schema change takes an ACCESS EXCLUSIVE lock that is held until the revision commits; a data change
    in the same transaction keeps every reader and writer of the table waiting for as long as the backfill
    runs, and a failed backfill rolls the schema change back with it. Separate revisions (or a batched
    backfill outside the migration) keep the lock short."""
    message = _("op.{name}() changes data in a revision that also changes the schema")
    for revision in chain.revisions:
        if any(source.is_schema_change(op) for op in revision.ops):
            for op in revision.ops:
                if source.is_data_change(op):
                    yield revision.finding(
                        op.line, message.format(name=op.name), _("move the data change into its own revision")
                    )


@rule("multiple-heads")
def multiple_heads(chain: Chain) -> Iterable[Finding]:
    """Two revisions with the same parent (two branches merged in git) give two heads, and `alembic upgrade
    head` fails with "Multiple head revisions are present" at deploy time."""
    if len(chain.heads) < 2:
        return
    heads = ", ".join(sorted(chain.heads))
    for revision in chain.revisions:
        if revision.id in chain.heads:
            message = _("{id} is one of {count} heads ({heads})")
            yield revision.finding(
                revision.file.assignment_line("down_revision"),
                message.format(id=revision.id, count=len(chain.heads), heads=heads),
                _("rebase it onto the other head, or run `alembic merge heads`"),
            )


@rule("index-not-concurrent")
def index_not_concurrent(chain: Chain) -> Iterable[Finding]:
    """CREATE INDEX without CONCURRENTLY blocks every write to the table until the index is built: minutes on
    a large table. On a table this revision creates that is harmless (it is empty); on a table an earlier
    revision created it is an outage."""
    message = _("CREATE INDEX on {table} ({where}) blocks writes while it builds")
    for revision in chain.revisions:
        new, earlier = revision.created_tables(), chain.created_by(revision)
        for op in revision.ops:
            if op.name == "create_index" and op.keyword("postgresql_concurrently") is not True:
                table = op.table(1)
            elif op.name == "execute" and CREATE_INDEX.match(op.text() or ""):
                table = CREATE_INDEX.match(op.text()).group(1)
            else:
                continue
            if table is None or table in new:
                continue
            where = (
                _("created by {revision}").format(revision=earlier[table])
                if table in earlier
                else _("not created in this revision")
            )
            yield revision.finding(
                op.line,
                message.format(table=table, where=where),
                _("use postgresql_concurrently=True inside op.get_context().autocommit_block()"),
            )


@rule("concurrently-in-transaction")
def concurrently_in_transaction(chain: Chain) -> Iterable[Finding]:
    """PostgreSQL refuses CREATE/DROP INDEX CONCURRENTLY inside a transaction block, and Alembic runs each
    revision in one: the upgrade fails with "CREATE INDEX CONCURRENTLY cannot run inside a transaction block"
    unless the operation sits in `with op.get_context().autocommit_block():`."""
    message = _("op.{name}() runs CONCURRENTLY inside the revision's transaction")
    for revision in chain.revisions:
        for op in revision.ops:
            if op.name in ("create_index", "drop_index"):
                concurrent = op.keyword("postgresql_concurrently") is True
            else:
                concurrent = op.name == "execute" and bool(CONCURRENTLY.search(op.text() or ""))
            if concurrent and not op.in_autocommit:
                yield revision.finding(
                    op.line,
                    message.format(name=op.name),
                    _("wrap it in `with op.get_context().autocommit_block():`"),
                )


@rule("not-null-without-default")
def not_null_without_default(chain: Chain) -> Iterable[Finding]:
    """Adding a NOT NULL column without a server default fails on a table that has rows ("column ...
    contains null values"): the revision passes on an empty development database and fails in production.
    Add it nullable, backfill, then set NOT NULL; or give it a server_default."""
    message = _("new NOT NULL column {column} on {table} has no server_default")
    for revision in chain.revisions:
        new = revision.created_tables()
        for op in revision.ops:
            if op.name != "add_column" or op.table(0) in new:
                continue
            column = op.arg(1, "column")
            if not (isinstance(column, ast.Call) and source.call_name(column.func) == "Column"):
                continue
            keywords = {item.arg: item.value for item in column.keywords}
            not_null = (
                _literal(keywords.get("nullable")) is False or _literal(keywords.get("primary_key")) is True
            )
            if not_null and _literal(keywords.get("server_default")) is None:
                name = source.literal_text(column.args[0]) if column.args else None
                yield revision.finding(
                    op.line,
                    message.format(column=name or "?", table=op.table(0) or "?"),
                    _("add it nullable, backfill, then set NOT NULL; or give it a server_default"),
                )


def _literal(node: ast.expr | None):
    """A keyword's literal value; None when absent; the node itself when it is an expression."""
    if node is None:
        return None
    try:
        return ast.literal_eval(node)
    except ValueError:
        return node


@rule("rename")
def rename(chain: Chain) -> Iterable[Finding]:
    """While a deploy rolls out, the old application version keeps running against the migrated schema: a
    renamed column or table makes every one of its queries fail. Expand / contract: add the new name, write
    both, switch the code, and drop the old name in a later release."""
    message = _("op.{name}() renames what the running application still uses")
    for revision in chain.revisions:
        for op in revision.ops:
            if (
                op.name == "rename_table"
                or (op.name == "alter_column" and op.keyword("new_column_name"))
                or (op.name == "execute" and RENAME.match(op.text() or ""))
            ):
                yield revision.finding(
                    op.line,
                    message.format(name=op.name),
                    _(
                        "expand / contract: add the new name, migrate the code, drop the "
                        "old name in a later release"
                    ),
                )


@rule("create-all")
def create_all(chain: Chain) -> Iterable[Finding]:
    """`Base.metadata.create_all()` in application code creates the tables outside Alembic: no version row
    is written, and the next `alembic upgrade head` fails with "relation ... already exists"."""
    for file in chain.app_files:
        for node in ast.walk(file.tree):
            if (
                isinstance(node, ast.Attribute)
                and node.attr == "create_all"
                and (
                    (isinstance(node.value, ast.Attribute) and node.value.attr == "metadata")
                    or (isinstance(node.value, ast.Name) and node.value.id == "metadata")
                )
            ):
                yield Finding(
                    file.path,
                    node.lineno,
                    _("metadata.create_all() creates tables outside Alembic"),
                    _("create the schema with `alembic upgrade head`"),
                )
