"""docker-compose.yml, the CI workflow and the start-up scripts, checked without a Docker engine: schemas, linters
and the settings the start-up relies on; the init script's roles on a real server. (The start-up on a real server:
test_startup.py.)"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
import yaml
from sqlalchemy.engine import make_url

from scryer_runbook import project
from tests.startup_env import compose_server, owner_and_app

ROOT = project.REPO_ROOT
BIN = Path(sys.executable).parent
COMPOSE = ROOT / "docker-compose.yml"
WORKFLOW = ROOT / ".github" / "workflows" / "ci.yml"
SCRIPTS = sorted((ROOT / "docker").rglob("*.sh"))
HEAD = "004_index_tasks_created_at"
FROM_ENV = r"\$\{\w+:\?[^}]+\}"  # ${NAME:?message}: compose refuses to start while .env lacks NAME


def check(*args) -> None:
    done = subprocess.run([str(arg) for arg in args], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize(
    "path, schema",
    [(COMPOSE, "vendor.compose-spec"), (WORKFLOW, "vendor.github-workflows")],
    ids=["compose", "workflow"],
)
def test_valid_against_its_schema(path, schema):
    check(BIN / "check-jsonschema", "--builtin-schema", schema, path)


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda path: path.name)
def test_shell_script_passes_bash_n_and_shellcheck(script):
    check("bash", "-n", script)
    check(BIN / "shellcheck", script)


@pytest.fixture(scope="module")
def services():
    return yaml.safe_load(COMPOSE.read_text())["services"]


def test_postgres_is_pinned_and_checked_over_tcp(services):
    postgres = services["postgres"]
    assert postgres["image"] == "postgres:15"
    # Not the Unix socket: the image's init phase serves only that one, so a socket check passes too early.
    test = postgres["healthcheck"]["test"]
    assert test[:2] == ["CMD", "pg_isready"] and test[test.index("-h") + 1] == "127.0.0.1"
    assert "pgdata:/var/lib/postgresql/data" in postgres["volumes"]
    assert "./docker/initdb:/docker-entrypoint-initdb.d:ro" in postgres["volumes"]


def test_ports_are_published_on_this_machine_only(services):
    ports = [port for service in services.values() for port in service.get("ports", [])]
    assert ports and all(port.startswith("127.0.0.1:") for port in ports), ports


def test_services_start_once_postgres_is_healthy(services):
    for name in ("scryer-dev", "jupyter"):
        assert services[name]["depends_on"] == {"postgres": {"condition": "service_healthy"}}, name
    assert "http://127.0.0.1:8080/health" in " ".join(services["scryer-dev"]["healthcheck"]["test"])


def test_migrations_run_as_the_owner_and_the_app_as_its_own_role(services):
    env = services["scryer-dev"]["environment"]
    assert env["POSTGRES_USER"] == "scryer_app"
    assert env["DATABASE_URL"].startswith("postgresql://scryer:")  # what alembic/env.py reads
    assert env["SKIP_MIGRATION"] == "${SKIP_MIGRATION:-false}"
    assert {"POSTGRES_HOST", "POSTGRES_PORT", "POSTGRES_DB"} <= env.keys()


def test_jupyter_is_an_opt_in_profile_on_the_same_image(services):
    jupyter = services["jupyter"]
    assert jupyter["profiles"] == ["runbooks"]
    assert jupyter["build"] == {"context": ".", "args": {"EXTRAS": "lab"}}
    assert jupyter["environment"]["DATABASE_URL"].endswith("@postgres:5432/postgres")


def test_no_password_in_the_compose_file(services):
    for name, service in services.items():
        for key, value in service.get("environment", {}).items():
            if "PASSWORD" in key:
                assert re.fullmatch(FROM_ENV, value), (name, key)
            if "URL" in key:
                assert re.fullmatch(rf"postgresql://\w+:{FROM_ENV}@[\w.-]+:\d+/\w+", value), (name, key)


def test_secrets_stay_out_of_git_and_the_image():
    example = (ROOT / ".env.example").read_text()
    passwords = re.findall(r"^\w*PASSWORD=(.*)$", example, re.M)
    assert passwords and set(passwords) == {"changeme"}
    for ignore_file in (".gitignore", ".dockerignore"):
        assert ".env" in (ROOT / ignore_file).read_text().splitlines(), ignore_file


def test_ci_runs_make_test_against_postgres_15():
    workflow = yaml.safe_load(WORKFLOW.read_text())
    job = workflow["jobs"]["test"]
    assert job["services"]["postgres"]["image"] == "postgres:15"
    assert job["env"]["DATABASE_URL"].startswith("postgresql://postgres:")
    assert job["container"].startswith("python:3.11")
    commands = " ".join(step.get("run", "") for step in job["steps"])
    assert "make test" in commands and "chromium" in commands and "fonts-noto-cjk" in commands


# --- the init script on a real server -------------------------------------------------------------------------------

VERSION_WRITES = [
    "UPDATE alembic_version SET version_num = '003_add_tasks_table'",
    "INSERT INTO alembic_version VALUES ('005_from_the_app')",
    "DELETE FROM alembic_version",
]


def assert_app_reads_but_cannot_write_the_version_table(app_url: str) -> None:
    with psycopg.connect(app_url, autocommit=True) as conn:
        assert conn.execute("SELECT version_num FROM alembic_version").fetchall() == [
            (HEAD,)
        ]  # what /health reads
        for statement in VERSION_WRITES:
            with pytest.raises(
                psycopg.errors.InsufficientPrivilege, match="permission denied for table alembic_version"
            ):
                conn.execute(statement)
        conn.execute(
            "INSERT INTO users VALUES (gen_random_uuid(), 'ada', 'ada@example.com', true)"
        )  # rows: yes


def test_the_app_role_reads_but_cannot_write_the_version_table_after_the_init_script():
    """The init script, on a new server, then the first migration as the owner (the entrypoint's step 2)."""
    with compose_server() as (owner, app):
        project.alembic("upgrade", "head", url=owner, check=True)
        assert_app_reads_but_cannot_write_the_version_table(app)


def test_the_troubleshooting_grants_take_the_version_table_back_on_an_existing_database(scratch):
    """The permissions section's SQL, run as the owner on a migrated database whose app role may write every table."""
    owner, app = owner_and_app(scratch)
    project.alembic("upgrade", "head", url=owner, check=True)
    roles = {"scryer_app": make_url(app).username, "scryer": make_url(owner).username}
    with psycopg.connect(app, autocommit=True) as conn:  # default privileges gave it the version table too
        conn.execute("UPDATE alembic_version SET version_num = version_num")
    page = (ROOT / "docs" / "troubleshooting" / "index.en.md").read_text(encoding="utf-8")
    section = re.search(r"^## [^\n]*\{#permissions\}(.*?)(?=^## )", page, re.S | re.M)[1]
    [grants] = re.findall(r"```sql\n(.*?)```", section, re.S)
    with psycopg.connect(owner, autocommit=True) as conn:
        conn.execute(re.sub(r"\b(scryer_app|scryer)\b", lambda m: roles[m[1]], grants))
    assert_app_reads_but_cannot_write_the_version_table(app)
