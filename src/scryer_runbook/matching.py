"""Which revision does a live schema match? Found in a sandbox, never by running the project's env.py online.

This is what to ``alembic stamp`` when tables exist but the version table does not, instead of the guide's
``stamp head``, which silently skips every revision the live schema lacks.

How, and why this way: the project's own CLI renders the whole chain as SQL in offline mode (``upgrade head
--sql``), in a guarded process that may connect to no database at all; this module then executes that SQL itself,
one revision at a time, on a scratch database of the sandbox, and compares the scratch schema with the live one
after each revision. A project whose env.py ignores the connection it is given (most do) therefore cannot migrate
anything but the scratch database: it is never given the chance to connect. If the chain cannot be rendered
offline, the answer is an honest "cannot tell", with the reason.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import psycopg

from scryer_runbook import diagnosis, problems, urls
from scryer_runbook.project import AlembicProject

# Every user schema as the catalog sees it (the version table left out): equal snapshots mean the same tables,
# columns, types, nullability, defaults, indexes, constraints and enum labels.
SCHEMA_SNAPSHOT = """
    SELECT 'column', table_schema || '.' || table_name || '.' || column_name || ' ' || data_type || ' '
           || is_nullable || ' ' || coalesce(column_default, '')
    FROM information_schema.columns
    WHERE table_schema NOT IN ('pg_catalog', 'information_schema') AND table_name <> %(version_table)s
    UNION ALL SELECT 'index', indexdef FROM pg_indexes
    WHERE schemaname NOT IN ('pg_catalog', 'information_schema') AND tablename <> %(version_table)s
    UNION ALL SELECT 'constraint', conrelid::regclass || ' ' || pg_get_constraintdef(c.oid)
    FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace
    WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND c.conrelid <> 0
      AND conrelid::regclass::text !~ ('(^|\\.)"?' || %(version_table)s || '"?$')
    UNION ALL SELECT 'enum', t.typname || ' ' || string_agg(e.enumlabel, ',' ORDER BY e.enumsortorder)
    FROM pg_type t JOIN pg_enum e ON e.enumtypid = t.oid GROUP BY t.typname
    ORDER BY 1, 2
"""
RUNNING = re.compile(r"^-- Running upgrade (\S*) -> (\S+)\s*$", re.M)


@dataclass
class Match:
    """The revision to stamp (None: no revision has the live schema), or why it cannot be told.

    Several consecutive revisions can have the same schema: the later ones change data only (``op.execute``,
    ``bulk_insert``) or nothing the catalog shows. ``revision`` is the earliest of them, so that ``upgrade head``
    after the stamp still runs the later ones; ``schema_neutral`` lists them, because whether their data is
    already there is something only a human can check (stamping past them would skip them silently)."""

    revision: str | None
    checked: list[str]  # the revisions replayed in the sandbox, oldest first
    cannot_tell: str | None = None  # set when the answer is unknown: never guess
    schema_neutral: list[str] = field(default_factory=list)  # later revisions with the very same schema


def snapshot(conn: psycopg.Connection, version_table: str = "alembic_version") -> list[tuple[str, str]]:
    return conn.execute(SCHEMA_SNAPSHOT, {"version_table": version_table}).fetchall()


def offline_chain(project: AlembicProject, scratch_url: str) -> list[tuple[str, str]]:
    """[(revision, its SQL)] from base to head, rendered by the project's CLI with no connection allowed.

    The settings point at the scratch database (some env.py read a URL even offline, for the dialect), yet the
    guard refuses every connection: offline rendering must not need one."""
    result = project.run("upgrade", "head", "--sql", url=scratch_url, allow=[], stdout_only=True)
    if result.returncode != 0:
        raise RuntimeError(
            f"`{project.shown('upgrade', 'head', '--sql')}` failed: "
            f"{diagnosis.terse(result).output.strip().splitlines()[-1]}"
        )
    sql = result.output
    starts = [(match.start(), match[2]) for match in RUNNING.finditer(sql)]
    if not starts:
        raise RuntimeError("the offline SQL names no revision (`-- Running upgrade` lines are missing)")
    chain = []
    for index, (start, revision) in enumerate(starts):
        end = starts[index + 1][0] if index + 1 < len(starts) else len(sql)
        chain.append((revision, sql[0 if index == 0 else start : end]))
    return chain


def offline_statements(sql: str) -> list[str]:
    """One revision's offline SQL, a statement at a time (comments left out). Alembic ends every statement with ";"
    and a blank line, and keeps blank lines out of statements. One at a time because what an autocommit_block()
    renders (CREATE INDEX CONCURRENTLY) refuses to run in the implicit transaction of a multi-statement query."""
    pieces = (piece.strip() for piece in sql.split(";\n\n"))
    return [piece for piece in pieces if re.sub(r"^--.*$", "", piece, flags=re.M).strip()]


def matching_revision(
    url: str,
    sandbox,
    project: AlembicProject,
    version_table: str = "alembic_version",
    version_schema: str | None = None,
) -> Match:
    """Replay the chain in a scratch database of ``sandbox`` and compare with the live schema at ``url`` (read)."""
    if project.is_multidb:
        return Match(
            None, [], "a multidb project: each database has its own chain; match them one by one by hand"
        )
    with diagnosis.connect(url) as conn:
        live = snapshot(conn, version_table)
    scratch = sandbox.database("match")
    try:
        chain = offline_chain(project, scratch)
    except RuntimeError as error:
        return Match(None, [], f"the migrations could not be rendered offline: {urls.mask_text(str(error))}")
    matches, checked = [], []
    with psycopg.connect(urls.libpq(scratch), autocommit=True) as conn:
        if version_schema:  # env.py usually creates it when connected; offline SQL does not
            conn.execute(
                psycopg.sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(
                    psycopg.sql.Identifier(version_schema)
                )
            )
        for revision, sql in chain:
            try:
                for statement in offline_statements(sql):
                    conn.execute(statement.encode())
            except psycopg.Error as error:
                reason = (
                    f"revision {revision}'s offline SQL failed in the sandbox: {problems.first_line(error)}"
                )
                return _answer(matches, checked, None if matches else reason)
            checked.append(revision)
            if snapshot(conn, version_table) == live:
                matches.append(revision)
    return _answer(matches, checked)


def _answer(matches: list[str], checked: list[str], cannot_tell: str | None = None) -> Match:
    """The last run of consecutive matching revisions: stamp its first, name the rest."""
    if not matches:
        return Match(None, checked, cannot_tell)
    run = [matches[-1]]
    for revision in reversed(checked[: checked.index(matches[-1])]):
        if revision not in matches:
            break
        run.insert(0, revision)
    return Match(run[0], checked, cannot_tell, run[1:])
