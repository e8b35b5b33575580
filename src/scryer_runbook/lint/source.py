"""What a revision file (or any Python file) says, read from its syntax tree: its `op.` calls and its
disable comments.

Nothing here imports the file: the rules judge what the code asks for, line by line, before Alembic runs it.
"""

from __future__ import annotations

import ast
import io
import re
import tokenize
from dataclasses import dataclass, field
from pathlib import Path

# `# scryer-lint: disable=rule-a,rule-b reason: why this revision may do it`
DISABLE = re.compile(r"#\s*scryer-lint:\s*disable=([\w\-, ]+?)\s*(?:reason:\s*(.*?))?\s*$")
# Operations that change no schema (the rest of `op.` does).
NOT_SCHEMA = {
    "execute",
    "bulk_insert",
    "get_bind",
    "get_context",
    "inline_literal",
    "f",
    "batch_alter_table",
    "invoke",
    "run_async",
    "implementation_for",
    "register_operation",
}
DML = re.compile(r"^\s*(?:WITH\b.*?\b)?(INSERT|UPDATE|DELETE|MERGE|COPY)\b", re.I | re.S)
DDL = re.compile(r"^\s*(CREATE|ALTER|DROP|COMMENT|REINDEX|TRUNCATE)\b", re.I)


@dataclass(frozen=True)
class Disable:
    line: int
    rules: tuple[str, ...]
    reason: str


@dataclass
class OpCall:
    """One `op.<name>(...)` (or `batch_op.<name>(...)`) call in ``upgrade()``."""

    name: str
    node: ast.Call
    batch_table: str | None = None  # the table of the enclosing `op.batch_alter_table(...)`
    in_autocommit: bool = False  # inside `with op.get_context().autocommit_block():`

    @property
    def line(self) -> int:
        return self.node.lineno

    def arg(self, position: int, keyword: str) -> ast.expr | None:
        """The argument at ``position`` (counted as on `op.`: batch calls have no table argument) or
        ``keyword``."""
        for item in self.node.keywords:
            if item.arg == keyword:
                return item.value
        if self.batch_table is not None:
            position -= 1
        return self.node.args[position] if 0 <= position < len(self.node.args) else None

    def text(self, position: int = 0, keyword: str = "sqltext") -> str | None:
        return literal_text(self.arg(position, keyword))

    def table(self, position: int, keyword: str = "table_name") -> str | None:
        if self.batch_table is not None:
            return self.batch_table
        return literal_text(self.arg(position, keyword))

    def keyword(self, name: str):
        """A keyword argument's literal value (None when absent or not a literal)."""
        value = next((item.value for item in self.node.keywords if item.arg == name), None)
        try:
            return ast.literal_eval(value) if value is not None else None
        except ValueError:
            return value


@dataclass
class SourceFile:
    path: Path
    text: str
    tree: ast.Module
    disables: list[Disable] = field(default_factory=list)

    def function(self, name: str) -> ast.FunctionDef | None:
        return next(
            (node for node in self.tree.body if isinstance(node, ast.FunctionDef) and node.name == name), None
        )

    def assignment_line(self, name: str) -> int:
        """The line of a module-level ``name = ...`` (1 when there is none)."""
        for node in self.tree.body:
            targets = (
                node.targets
                if isinstance(node, ast.Assign)
                else [node.target]
                if isinstance(node, ast.AnnAssign)
                else []
            )
            if any(isinstance(target, ast.Name) and target.id == name for target in targets):
                return node.lineno
        return 1

    def ops(self, function: str = "upgrade") -> list[OpCall]:
        found = self.function(function)
        return _OpVisitor().collect(found) if found else []

    def disabled(self, rule: str) -> bool:
        return any(rule in disable.rules for disable in self.disables)


def read(path: Path) -> SourceFile:
    """Parse ``path`` (raises SyntaxError as Python would)."""
    text = path.read_text(encoding="utf-8")
    tree = ast.parse(text, filename=str(path))
    return SourceFile(path, text, tree, _disables(text))


def _disables(text: str) -> list[Disable]:
    found = []
    if "scryer-lint" not in text:  # tokenizing is the slow part of reading a file
        return found
    for token in tokenize.generate_tokens(io.StringIO(text).readline):
        match = DISABLE.search(token.string) if token.type == tokenize.COMMENT else None
        if match:
            rules = tuple(name.strip() for name in match.group(1).split(",") if name.strip())
            found.append(Disable(token.start[0], rules, (match.group(2) or "").strip()))
    return found


def literal_text(node: ast.expr | None) -> str | None:
    """A string literal, also inside ``sa.text("...")`` / ``text("...")``."""
    if isinstance(node, ast.Call) and call_name(node.func) in ("text", "DDL") and node.args:
        node = node.args[0]
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    return None


def call_name(func: ast.expr) -> str:
    return func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""


class _OpVisitor(ast.NodeVisitor):
    """Collects `op.` calls in source order, knowing the `with` blocks around each."""

    def __init__(self):
        self.calls: list[OpCall] = []
        self.batches: dict[str, str | None] = {}  # alias -> table
        self.autocommit = 0

    def collect(self, function: ast.FunctionDef) -> list[OpCall]:
        for statement in function.body:
            self.visit(statement)
        return self.calls

    def visit_With(self, node: ast.With) -> None:
        entered = 0
        for item in node.items:
            expression = item.context_expr
            self.visit(expression)
            if isinstance(expression, ast.Call) and call_name(expression.func) == "autocommit_block":
                entered += 1
            if (
                isinstance(expression, ast.Call)
                and call_name(expression.func) == "batch_alter_table"
                and isinstance(item.optional_vars, ast.Name)
            ):
                self.batches[item.optional_vars.id] = literal_text(
                    expression.args[0] if expression.args else None
                )
        self.autocommit += entered
        for statement in node.body:
            self.visit(statement)
        self.autocommit -= entered

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name):
            receiver = func.value.id
            if receiver == "op" or receiver in self.batches:
                batch_table = self.batches.get(receiver) if receiver != "op" else None
                self.calls.append(OpCall(func.attr, node, batch_table, self.autocommit > 0))
        elif (
            isinstance(func, ast.Attribute)
            and func.attr == "execute"
            and isinstance(func.value, ast.Call)
            and call_name(func.value.func) == "get_bind"
        ):  # op.get_bind().execute(...): a data change
            self.calls.append(OpCall("execute", node, None, self.autocommit > 0))
        self.generic_visit(node)


def is_data_change(call: OpCall) -> bool:
    """``op.bulk_insert``, or ``op.execute`` of INSERT/UPDATE/DELETE (text, or an ``insert()``-like
    construct)."""
    if call.name == "bulk_insert":
        return True
    if call.name != "execute":
        return False
    statement = call.arg(0, "sqltext")
    text = literal_text(statement)
    if text is not None:
        return bool(DML.match(text))
    # insert(t).values(...), t.update().where(...): any step of the call chain names the statement
    steps = (
        {call_name(node.func) for node in ast.walk(statement) if isinstance(node, ast.Call)}
        if statement is not None
        else set()
    )
    return bool(steps & {"insert", "update", "delete"})


def is_schema_change(call: OpCall) -> bool:
    if call.name == "execute":
        text = call.text()
        return text is not None and bool(DDL.match(text))
    return call.name not in NOT_SCHEMA
