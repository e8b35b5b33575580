"""What a role may do on the current database, its public schema and each table and sequence.

Read from the catalog: has_*_privilege answers for roles other than the one connected, so the owner's connection
can check the app's.
"""

from __future__ import annotations

from dataclasses import dataclass


TABLE_PRIVILEGES = ("SELECT", "INSERT", "UPDATE", "DELETE")  # what a DML-only app role needs on every table
SEQUENCE_PRIVILEGES = ("USAGE", "SELECT")  # nextval() for SERIAL/identity columns, currval()

_ROLE_ATTRIBUTES = [("rolsuper", "Superuser"), ("rolcreaterole", "Create role"), ("rolcreatedb", "Create DB"),
                    ("rolbypassrls", "Bypass RLS")]


def roles(conn, names: list[str]) -> list[tuple[str, str, list[str]]]:
    """psql's ``\\du`` for some roles: (name, attributes, member of)."""
    rows = conn.execute("""
        SELECT r.rolname, r.rolsuper, r.rolcreaterole, r.rolcreatedb, r.rolbypassrls, r.rolcanlogin,
               ARRAY(SELECT g.rolname FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid
                     WHERE m.member = r.oid ORDER BY 1)
        FROM pg_roles r WHERE r.rolname = ANY(%s) ORDER BY 1""", [list(names)]).fetchall()
    described = []
    for name, *flags, can_login, member_of in rows:
        attributes = [label for (_, label), flag in zip(_ROLE_ATTRIBUTES, flags, strict=True) if flag]
        if not can_login:
            attributes.append("Cannot login")
        described.append((name, ", ".join(attributes), member_of))
    return described


def migration_owner(conn) -> str:
    """The role Alembic migrates as: the owner of ``alembic_version`` (it created it), else the connected role."""
    row = conn.execute("SELECT tableowner FROM pg_tables WHERE schemaname = 'public' "
                       "AND tablename = 'alembic_version'").fetchone()
    return row[0] if row else conn.execute("SELECT current_user").fetchone()[0]


def access_privileges(conn, role: str, schema: str = "public") -> dict[str, bool]:
    """``role``'s rights on the current database (all that ``GRANT ALL ON DATABASE`` gives) and on ``schema``."""
    row = conn.execute("""
        SELECT has_database_privilege(%(role)s, current_database(), 'CONNECT'),
               has_database_privilege(%(role)s, current_database(), 'CREATE'),
               has_database_privilege(%(role)s, current_database(), 'TEMPORARY'),
               has_schema_privilege(%(role)s, %(schema)s, 'USAGE'),
               has_schema_privilege(%(role)s, %(schema)s, 'CREATE')""", {"role": role, "schema": schema}).fetchone()
    keys = ["database CONNECT", "database CREATE", "database TEMPORARY", f"schema {schema} USAGE",
            f"schema {schema} CREATE"]
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
    rows = conn.execute("""
        SELECT c.relname, c.relkind = 'S', pg_get_userbyid(c.relowner), c.oid
        FROM pg_class c WHERE c.relnamespace = %s::regnamespace AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S')
        ORDER BY c.relkind = 'S', c.relname""", [schema]).fetchall()
    result = []
    for name, is_sequence, owner, oid in rows:
        wanted = SEQUENCE_PRIVILEGES if is_sequence else TABLE_PRIVILEGES
        check = "has_sequence_privilege" if is_sequence else "has_table_privilege"
        held = conn.execute(f"SELECT {', '.join(f'{check}(%s, %s, %s)' for _ in wanted)}",  # noqa: S608 - fixed names
                            [value for privilege in wanted for value in (role, oid, privilege)]).fetchone()
        result.append(ObjectPrivileges(name, "sequence" if is_sequence else "table", owner,
                                       [p for p, ok in zip(wanted, held, strict=True) if ok],
                                       [p for p, ok in zip(wanted, held, strict=True) if not ok]))
    return result


def missing_privileges(conn, role: str, schema: str = "public") -> list[str]:
    """What ``role`` lacks to read and write every table of ``schema``; empty when the app role is fully served."""
    missing = [] if access_privileges(conn, role, schema)[f"schema {schema} USAGE"] else [f"schema {schema}: USAGE"]
    return missing + [f"{item.kind} {item.name}: {', '.join(item.missing)}"
                      for item in table_privileges(conn, role, schema) if item.missing]


def default_privileges(conn, schema: str = "public") -> list[tuple[str, str, str, str]]:
    """``ALTER DEFAULT PRIVILEGES`` in force for ``schema``: (for objects created by, kind, grantee, privileges)."""
    return conn.execute("""
        SELECT pg_get_userbyid(d.defaclrole),
               CASE d.defaclobjtype WHEN 'r' THEN 'tables' WHEN 'S' THEN 'sequences' WHEN 'f' THEN 'functions'
                                    WHEN 'T' THEN 'types' WHEN 'n' THEN 'schemas' END,
               CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE pg_get_userbyid(a.grantee) END,
               string_agg(a.privilege_type, ', ' ORDER BY a.privilege_type)
        FROM pg_default_acl d CROSS JOIN LATERAL aclexplode(d.defaclacl) a
        WHERE d.defaclnamespace IN (0, %s::regnamespace)
        GROUP BY 1, 2, 3 ORDER BY 1, 2, 3""", [schema]).fetchall()
