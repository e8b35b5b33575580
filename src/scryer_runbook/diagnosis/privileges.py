"""What a role may do on the current database, its public schema and each table and sequence.

Read from the catalog: has_*_privilege answers for roles other than the one connected, so the owner's connection
can check the app's.
"""

from __future__ import annotations

from dataclasses import dataclass

TABLE_PRIVILEGES = ("SELECT", "INSERT", "UPDATE", "DELETE")  # what a DML-only app role needs on every table
SEQUENCE_PRIVILEGES = ("USAGE", "SELECT")  # nextval() for SERIAL/identity columns, currval()

_ROLE_ATTRIBUTES = [
    ("rolsuper", "Superuser"),
    ("rolcreaterole", "Create role"),
    ("rolcreatedb", "Create DB"),
    ("rolbypassrls", "Bypass RLS"),
]


def roles(conn, names: list[str]) -> list[tuple[str, str, list[str]]]:
    """psql's ``\\du`` for some roles: (name, attributes, member of)."""
    rows = conn.execute(
        """
        SELECT r.rolname, r.rolsuper, r.rolcreaterole, r.rolcreatedb, r.rolbypassrls, r.rolcanlogin,
               ARRAY(SELECT g.rolname FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid
                     WHERE m.member = r.oid ORDER BY 1)
        FROM pg_roles r WHERE r.rolname = ANY(%s) ORDER BY 1""",
        [list(names)],
    ).fetchall()
    described = []
    for name, *flags, can_login, member_of in rows:
        attributes = [label for (_, label), flag in zip(_ROLE_ATTRIBUTES, flags, strict=True) if flag]
        if not can_login:
            attributes.append("Cannot login")
        described.append((name, ", ".join(attributes), member_of))
    return described


def migration_owner(conn) -> str:
    """The role Alembic migrates as: the owner of ``alembic_version`` (it created it), else the connected role."""
    row = conn.execute(
        "SELECT tableowner FROM pg_tables WHERE schemaname = 'public' AND tablename = 'alembic_version'"
    ).fetchone()
    return row[0] if row else conn.execute("SELECT current_user").fetchone()[0]


def access_privileges(conn, role: str, schema: str = "public") -> dict[str, bool]:
    """``role``'s rights on the current database (all that ``GRANT ALL ON DATABASE`` gives) and on ``schema``."""
    row = conn.execute(
        """
        SELECT has_database_privilege(%(role)s, current_database(), 'CONNECT'),
               has_database_privilege(%(role)s, current_database(), 'CREATE'),
               has_database_privilege(%(role)s, current_database(), 'TEMPORARY'),
               has_schema_privilege(%(role)s, %(schema)s, 'USAGE'),
               has_schema_privilege(%(role)s, %(schema)s, 'CREATE')""",
        {"role": role, "schema": schema},
    ).fetchone()
    keys = [
        "database CONNECT",
        "database CREATE",
        "database TEMPORARY",
        f"schema {schema} USAGE",
        f"schema {schema} CREATE",
    ]
    return dict(zip(keys, row, strict=True))


@dataclass
class ObjectPrivileges:
    """One table or sequence: who owns it, and which of the privileges an app role needs it has or lacks."""

    name: str
    kind: str  # "table" or "sequence"
    owner: str
    held: list[str]
    missing: list[str]


def table_privileges(conn, role: str, schema: str = "public") -> list[ObjectPrivileges]:
    """Every table (views included) and sequence in ``schema``, with ``role``'s DML privileges on it."""
    rows = conn.execute(
        """
        SELECT c.relname, c.relkind = 'S', pg_get_userbyid(c.relowner), c.oid
        FROM pg_class c WHERE c.relnamespace = %s::regnamespace AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S')
        ORDER BY c.relkind = 'S', c.relname""",
        [schema],
    ).fetchall()
    result = []
    for name, is_sequence, owner, oid in rows:
        wanted = SEQUENCE_PRIVILEGES if is_sequence else TABLE_PRIVILEGES
        check = "has_sequence_privilege" if is_sequence else "has_table_privilege"
        held = conn.execute(
            f"SELECT {', '.join(f'{check}(%s, %s, %s)' for _ in wanted)}",  # noqa: S608 - fixed names
            [value for privilege in wanted for value in (role, oid, privilege)],
        ).fetchone()
        result.append(
            ObjectPrivileges(
                name,
                "sequence" if is_sequence else "table",
                owner,
                [p for p, ok in zip(wanted, held, strict=True) if ok],
                [p for p, ok in zip(wanted, held, strict=True) if not ok],
            )
        )
    return result


def missing_privileges(
    conn, role: str, schema: str = "public", version_table: str = "alembic_version"
) -> list[str]:
    """What ``role`` lacks to read and write every table of ``schema``; empty when the app role is fully served.

    The version table is Alembic's: the app may read it (a health check does) but must not write it, so only
    SELECT counts there, and write rights on it are reported by ``version_table_writes``."""
    missing = (
        [] if access_privileges(conn, role, schema)[f"schema {schema} USAGE"] else [f"schema {schema}: USAGE"]
    )
    for item in table_privileges(conn, role, schema):
        lacking = [p for p in item.missing if item.name != version_table or p == "SELECT"]
        if lacking:
            missing.append(f"{item.kind} {item.name}: {', '.join(lacking)}")
    return missing


def version_table_writes(
    conn, role: str, schema: str = "public", version_table: str = "alembic_version"
) -> list[str]:
    """The write privileges ``role`` holds on the version table: an app role that can write it can make Alembic
    skip or repeat migrations (``GRANT ... ON ALL TABLES`` gives exactly that)."""
    qualified = conn.execute(
        "SELECT to_regclass(quote_ident(%s) || '.' || quote_ident(%s))", [schema, version_table]
    ).fetchone()[0]
    if qualified is None:
        return []
    return [
        privilege
        for privilege in ("INSERT", "UPDATE", "DELETE", "TRUNCATE")
        if conn.execute(
            "SELECT has_table_privilege(%s, %s::regclass, %s)", [role, qualified, privilege]
        ).fetchone()[0]
    ]


def foreign_owned(conn, owner: str, schema: str = "public") -> list[tuple[str, str, str]]:
    """Tables, views and sequences in ``schema`` that ``owner`` does not own: (kind, name, owner). Migrations as
    ``owner`` fail on them with ``must be owner of table ...``, and default privileges do not cover them."""
    return conn.execute(
        """
        SELECT CASE c.relkind WHEN 'S' THEN 'SEQUENCE' WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW'
                              ELSE 'TABLE' END, c.relname, pg_get_userbyid(c.relowner)
        FROM pg_class c
        WHERE c.relnamespace = %s::regnamespace AND c.relkind IN ('r', 'p', 'v', 'm', 'S')
          AND pg_get_userbyid(c.relowner) <> %s
          AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = c.oid AND d.deptype IN ('a', 'i')
                          AND d.classid = 'pg_class'::regclass AND c.relkind = 'S')
        ORDER BY c.relname""",
        [schema, owner],
    ).fetchall()


def denied_as_role(conn, role: str, tables: list[str], schema: str = "public") -> dict[str, str]:
    """Really query each table as ``role`` (``SET LOCAL ROLE``, read-only, rolled back): {table: the error}.

    Needs the connected role to be a member of ``role`` (or a superuser); raises InsufficientPrivilege otherwise."""
    from psycopg import errors, sql  # noqa: PLC0415

    denied = {}
    with conn.transaction(force_rollback=True):
        conn.execute(sql.SQL("SET LOCAL ROLE {}").format(sql.Identifier(role)))
        for table in tables:
            try:
                with conn.transaction():
                    conn.execute(
                        sql.SQL("SELECT 1 FROM {}.{} LIMIT 0").format(
                            sql.Identifier(schema), sql.Identifier(table)
                        )
                    )
            except errors.InsufficientPrivilege as error:
                denied[table] = str(error).strip().splitlines()[0]
    return denied


def default_privileges(conn, schema: str = "public") -> list[tuple[str, str, str, str]]:
    """``ALTER DEFAULT PRIVILEGES`` in force for ``schema``: (for objects created by, kind, grantee, privileges)."""
    return conn.execute(
        """
        SELECT pg_get_userbyid(d.defaclrole),
               CASE d.defaclobjtype WHEN 'r' THEN 'tables' WHEN 'S' THEN 'sequences' WHEN 'f' THEN 'functions'
                                    WHEN 'T' THEN 'types' WHEN 'n' THEN 'schemas' END,
               CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE pg_get_userbyid(a.grantee) END,
               string_agg(a.privilege_type, ', ' ORDER BY a.privilege_type)
        FROM pg_default_acl d CROSS JOIN LATERAL aclexplode(d.defaclacl) a
        WHERE d.defaclnamespace IN (0, %s::regnamespace)
        GROUP BY 1, 2, 3 ORDER BY 1, 2, 3""",
        [schema],
    ).fetchall()
