"""`scryer-runbook lint`: every rule flagged at the right file and line, configuration, bad input, output.

The fixture projects under tests/fixtures/lint/ are small Alembic projects: `rules` has one revision per rule
(and application code that calls create_all), `clean` does everything the rules ask. The incidents the rules
prevent are reproduced on a real PostgreSQL at the end, so the rules cannot drift from what the server does.
"""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
from test_doctor import check_sample

from scryer_runbook import i18n, project
from scryer_runbook.catalogue import SLUGS
from scryer_runbook.lint import KNOWN_RULES, lint, rules, squawk
from scryer_runbook.lint.report import LINKS
from scryer_runbook.project import REPO_ROOT

FIXTURES = REPO_ROOT / "tests" / "fixtures" / "lint"
RULES_INI = FIXTURES / "rules" / "alembic.ini"
VERSIONS = FIXTURES / "rules" / "migrations" / "versions"
LINT_PACKAGE = REPO_ROOT / "src" / "scryer_runbook" / "lint"

# (file in the rules fixture, the text on the flagged line, rule): the line is looked up, not written down.
EXPECTED = [
    ("app/db.py", "metadata.create_all(engine)", "create-all"),
    (
        "migrations/versions/r02_add_the_accounts_email_column_for_logins.py",
        "revision = ",
        "revision-id-too-long",
    ),
    ("migrations/versions/r03_no_downgrade.py", "def downgrade", "missing-downgrade"),
    ("migrations/versions/r04_backfill.py", "op.execute(", "data-and-schema-change"),
    ("migrations/versions/r05_index.py", "op.create_index(", "index-not-concurrent"),
    ("migrations/versions/r06_concurrently.py", "op.create_index(", "concurrently-in-transaction"),
    ("migrations/versions/r07_not_null.py", "op.add_column(", "not-null-without-default"),
    ("migrations/versions/r08_rename.py", "op.alter_column(", "rename"),
    # squawk's finding on the SQL, traced to the first line of the op. call that spans three lines
    ("migrations/versions/r09_drop_column.py", "op.drop_column(", "ban-drop-column"),
    ("migrations/versions/r09_drop_column.py", "down_revision = ", "multiple-heads"),
    ("migrations/versions/r10_second_head.py", "down_revision = ", "multiple-heads"),
]

# The project's own chain: what the linter may report on it, as (file, text on the flagged line, rule).
# 004_index_tasks_created_at built a plain CREATE INDEX on a table 003 created, flagged by index-not-concurrent
# until it moved to CREATE INDEX CONCURRENTLY in an autocommit block; the chain now lints clean. A revision
# added with a finding it has to keep (with its disable comment and reason) is listed here.
PROJECT_EXPECTED: list[tuple[str, str, str]] = []


def line_of(path: Path, text: str) -> int:
    return next(number for number, line in enumerate(path.read_text().splitlines(), 1) if text in line)


def expected(root: Path, items) -> set[tuple[str, int, str]]:
    return {((root / name).as_posix(), line_of(root / name, text), rule) for name, text, rule in items}


def found(report) -> set[tuple[str, int, str]]:
    return {(item.path.as_posix(), item.line, item.rule) for item in report.findings}


def run_lint(*args: str, cwd: Path = REPO_ROOT, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "scryer_runbook.cli", "lint", *args],
        cwd=cwd,
        env={**os.environ, "SCRYER_DOCS_URL": "http://127.0.0.1:8000", **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
    )


def copy_fixture(name: str, tmp_path: Path) -> Path:
    ignore = shutil.ignore_patterns("__pycache__")
    return Path(shutil.copytree(FIXTURES / name, tmp_path / name, ignore=ignore))


@pytest.fixture(autouse=True)
def default_language():
    """lint(lang=...) sets the process's language, as the CLI does; later tests in this worker get theirs."""
    yield
    i18n.set_language(None)


@pytest.fixture
def rules_copy(tmp_path) -> Path:
    return copy_fixture("rules", tmp_path)


# --- the rules ----------------------------------------------------------------------------------------------


def test_each_rule_is_flagged_at_its_file_and_line():
    report = lint(RULES_INI, lang="en")
    assert report.exit_code == 1, report.error
    assert found(report) == expected(FIXTURES / "rules", EXPECTED), "\n".join(report.lines())
    assert sorted(report.revisions) == sorted(path.stem for path in VERSIONS.glob("r*.py"))


def test_every_registered_rule_has_a_fixture_and_a_reason():
    flagged = {rule for _, _, rule in EXPECTED}
    assert set(rules.RULES) <= flagged, f"rules without a fixture revision: {set(rules.RULES) - flagged}"
    for rule in rules.RULES.values():
        assert len(rule.why) > 80, f"{rule.name}: its docstring must say why the rule exists"
        assert rule.name in LINKS, f"{rule.name}: no link"


def test_the_clean_project_exits_0_and_prints_no_finding():
    done = run_lint("-c", str(FIXTURES / "clean" / "alembic.ini"))
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout == ""
    assert re.fullmatch(r"no findings in 2 revision\(s\), \d+ ms\n", done.stderr)


def test_the_project_chain_has_exactly_the_expected_findings():
    report = lint(REPO_ROOT / "alembic.ini", lang="en")
    assert found(report) == expected(REPO_ROOT, PROJECT_EXPECTED), "\n".join(report.lines())
    assert report.exit_code == (1 if PROJECT_EXPECTED else 0)
    assert len(report.revisions) == len(list((REPO_ROOT / "alembic" / "versions").glob("*.py")))


BATCH_AND_RAW_SQL = '''"""batch operations and raw SQL: the rules read them too"""

import sqlalchemy as sa
from alembic import op

revision = "c03_batch"
down_revision = "c02_email"


def upgrade() -> None:
    with op.batch_alter_table("accounts") as batch_op:
        batch_op.alter_column("name", new_column_name="full_name")
        batch_op.add_column(sa.Column("score", sa.Integer(), nullable=False))
    op.execute("CREATE INDEX ix_accounts_score ON accounts (score)")
    accounts = sa.table("accounts", sa.column("score", sa.Integer()))
    op.execute(accounts.update().values(score=0))
    with op.get_context().autocommit_block():
        op.execute("CREATE INDEX CONCURRENTLY ix_accounts_full_name ON accounts (full_name)")


def downgrade() -> None:
    op.execute("DROP INDEX ix_accounts_full_name")
    op.drop_index("ix_accounts_score", table_name="accounts")
    with op.batch_alter_table("accounts") as batch_op:
        batch_op.drop_column("score")
        batch_op.alter_column("full_name", new_column_name="name")
'''


def test_batch_operations_and_raw_sql_are_read(tmp_path):
    clean = copy_fixture("clean", tmp_path)
    revision = clean / "migrations" / "versions" / "c03_batch.py"
    revision.write_text(BATCH_AND_RAW_SQL)
    report = lint(clean / "alembic.ini", lang="en")
    assert {(line, rule) for _, line, rule in found(report)} == {
        (line_of(revision, "batch_op.alter_column("), "rename"),
        (line_of(revision, "batch_op.add_column("), "not-null-without-default"),
        (line_of(revision, 'op.execute("CREATE INDEX ix_'), "index-not-concurrent"),
        (line_of(revision, "op.execute(accounts.update()"), "data-and-schema-change"),
    }, "\n".join(report.lines())


def test_a_range_lints_only_its_revisions():
    report = lint(RULES_INI, revision_range="r04_backfill:r06_concurrently", lang="en")
    assert report.revisions == ["r05_index", "r06_concurrently"]
    assert {rule for _, _, rule in found(report)} == {
        "index-not-concurrent",
        "concurrently-in-transaction",
        "create-all",
    }


def test_since_ref_lints_the_revisions_added_since_that_ref(tmp_path):
    clean = copy_fixture("clean", tmp_path)

    def git(*args):
        subprocess.run(
            ["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid", *args],
            cwd=clean,
            check=True,
            capture_output=True,
        )

    git("init", "-q", "-b", "main")
    git("add", "-A")
    git("commit", "-qm", "base")
    added = clean / "migrations" / "versions" / "c03_index.py"
    added.write_text(
        '"""a plain index on a table that exists"""\n\nfrom alembic import op\n\n'
        'revision = "c03_index"\ndown_revision = "c02_email"\n\n\ndef upgrade() -> None:\n'
        '    op.create_index("ix_accounts_name", "accounts", ["name"])\n\n\n'
        "def downgrade() -> None:\n"
        '    op.drop_index("ix_accounts_name", table_name="accounts")\n'
    )
    report = lint(clean / "alembic.ini", since_ref="main", lang="en")  # not committed yet: still linted
    assert report.revisions == ["c03_index"]
    assert found(report) == {(added.as_posix(), 10, "index-not-concurrent")}
    git("checkout", "-qb", "feature")
    git("add", "-A")
    git("commit", "-qm", "index")
    assert lint(clean / "alembic.ini", since_ref="main", lang="en").revisions == ["c03_index"]
    assert lint(clean / "alembic.ini", since_ref="feature", lang="en").revisions == []


@pytest.mark.parametrize(
    "folder", ["settings_sqlmodel/backend", "flask_migrate/migrations", "custom_version_table", "async_env"]
)
def test_real_project_layouts_are_linted_without_their_settings(folder):
    """Their env.py files need settings (or Flask's app context) even offline; the revisions' SQL does not, so
    it is rendered with a plain PostgreSQL context. Flask-Migrate's alembic.ini has no script_location."""
    done = run_lint(cwd=REPO_ROOT / "tests" / "fixtures" / "projects" / folder)
    assert done.returncode in (0, 1), done.stderr
    assert re.search(r"in 3 revision\(s\)", done.stderr), done.stderr


# --- configuration ------------------------------------------------------------------------------------------


def test_rules_can_be_disabled_in_pyproject(rules_copy):
    (rules_copy / "pyproject.toml").write_text(
        '[tool.scryer-runbook.lint]\ndisable = ["rename", "ban-drop-column"]\n'
    )
    rules_found = {rule for _, _, rule in found(lint(rules_copy / "alembic.ini", lang="en"))}
    assert rules_found == {rule for _, _, rule in EXPECTED} - {"rename", "ban-drop-column"}


def test_rules_can_be_disabled_in_alembic_ini(rules_copy):
    ini = rules_copy / "alembic.ini"
    ini.write_text(ini.read_text() + "\n[scryer-runbook.lint]\ndisable = create-all, multiple-heads\n")
    rules_found = {rule for _, _, rule in found(lint(ini, lang="en"))}
    assert rules_found == {rule for _, _, rule in EXPECTED} - {"create-all", "multiple-heads"}


def test_a_default_squawk_exclusion_can_be_enabled(rules_copy):
    (rules_copy / "pyproject.toml").write_text('[tool.scryer-runbook.lint]\nenable = ["renaming-column"]\n')
    report = lint(rules_copy / "alembic.ini", lang="en")
    renamed = rules_copy / "migrations" / "versions" / "r08_rename.py"
    assert (renamed.as_posix(), line_of(renamed, "op.alter_column("), "renaming-column") in found(report)


def test_an_unknown_rule_in_the_configuration_cannot_run(rules_copy):
    (rules_copy / "pyproject.toml").write_text('[tool.scryer-runbook.lint]\ndisable = ["no-such-rule"]\n')
    done = run_lint("-c", str(rules_copy / "alembic.ini"))
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.splitlines() == [
        "lint could not run: unknown rule 'no-such-rule' in pyproject.toml [tool.scryer-runbook.lint]"
    ]


def disable_in(path: Path, comment: str) -> None:
    header = "def upgrade() -> None:\n"
    path.write_text(path.read_text().replace(header, f"{header}    {comment}\n"))


def test_a_revision_disables_a_rule_with_a_reason(rules_copy):
    revision = rules_copy / "migrations" / "versions" / "r05_index.py"
    disable_in(revision, "# scryer-lint: disable=index-not-concurrent reason: accounts has 12 rows")
    report = lint(rules_copy / "alembic.ini", lang="en")
    assert not [item for item in report.findings if item.path == revision]


def test_a_disable_without_a_reason_is_a_finding(rules_copy):
    revision = rules_copy / "migrations" / "versions" / "r05_index.py"
    disable_in(revision, "# scryer-lint: disable=index-not-concurrent")
    report = lint(rules_copy / "alembic.ini", lang="en")
    mine = [(item.line, item.rule, item.message) for item in report.findings if item.path == revision]
    assert mine == [
        (line_of(revision, "scryer-lint"), "lint-disable", "disable=index-not-concurrent gives no reason")
    ]


def test_a_disable_of_an_unknown_rule_is_a_finding(rules_copy):
    revision = rules_copy / "migrations" / "versions" / "r05_index.py"
    disable_in(revision, "# scryer-lint: disable=index-not-concurent reason: typo")
    report = lint(rules_copy / "alembic.ini", lang="en")
    mine = {(item.rule, item.message) for item in report.findings if item.path == revision}
    assert mine == {
        ("lint-disable", "disable names an unknown rule: index-not-concurent"),
        (
            "index-not-concurrent",
            next(
                item.message
                for item in report.findings
                if item.path == revision and item.rule != "lint-disable"
            ),
        ),
    }


# --- bad input: one line, exit 2 ----------------------------------------------------------------------------


def assert_cannot_run(done: subprocess.CompletedProcess, *parts: str) -> None:
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stdout == ""
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("lint could not run: "), done.stderr
    for part in parts:
        assert part in lines[0], lines[0]


def test_a_missing_ini_cannot_run(tmp_path):
    assert_cannot_run(run_lint("-c", str(tmp_path / "alembic.ini")), "alembic.ini: no such file")


@pytest.mark.parametrize(
    "breakage, reason", [("import nosuchmodule\n", "ModuleNotFoundError"), ("def broken(:\n", "SyntaxError")]
)
def test_a_revision_that_does_not_import_is_named(rules_copy, breakage, reason):
    revision = rules_copy / "migrations" / "versions" / "r04_backfill.py"
    revision.write_text(revision.read_text() + breakage)
    assert_cannot_run(
        run_lint("-c", str(rules_copy / "alembic.ini")), f"{revision}: does not import: {reason}"
    )


def test_a_revision_that_cannot_render_offline_is_named(tmp_path):
    clean = copy_fixture("clean", tmp_path)
    revision = clean / "migrations" / "versions" / "c03_untyped.py"
    revision.write_text(
        BATCH_AND_RAW_SQL.replace("c03_batch", "c03_untyped").replace(
            'sa.column("score", sa.Integer())', 'sa.column("score")'
        )
    )
    assert_cannot_run(
        run_lint("-c", str(clean / "alembic.ini")),
        f"{revision}: its SQL could not be rendered offline",
        "No literal value renderer",
    )


def test_a_range_that_does_not_exist_cannot_run():
    assert_cannot_run(
        run_lint("-c", str(RULES_INI), "--range", "r01_accounts:r99_missing"),
        "--range r01_accounts:r99_missing",
        "r99_missing",
    )


def test_an_unknown_git_ref_cannot_run():
    assert_cannot_run(run_lint("--since-ref", "origin/no-such-branch"), "--since-ref origin/no-such-branch")


# --- output -------------------------------------------------------------------------------------------------


def test_text_output_is_one_line_per_finding():
    done = run_lint("-c", str(RULES_INI.relative_to(REPO_ROOT)), "--lang", "en")
    assert done.returncode == 1
    lines = done.stdout.splitlines()
    assert len(lines) == len(EXPECTED)
    for line in lines:
        assert re.fullmatch(
            r"tests/fixtures/lint/rules/\S+\.py:\d+: [\w-]+: .+ \(.+\) → (http://127\.0\.0\.1:8000/en/"
            r"\S+|https://squawkhq\.com/docs/[\w-]+)",
            line,
        ), line
    assert re.fullmatch(rf"{len(EXPECTED)} finding\(s\) in 10 revision\(s\), \d+ ms\n", done.stderr)


def test_json_output_shape():
    done = run_lint("-c", str(RULES_INI.relative_to(REPO_ROOT)), "--json", "--lang", "zh")
    assert done.returncode == 1 and done.stderr == ""
    report = json.loads(done.stdout)
    assert set(report) == {
        "status",
        "exit_code",
        "project",
        "lang",
        "elapsed_ms",
        "error",
        "revisions",
        "findings",
    }
    summary = (report["status"], report["exit_code"], report["lang"], report["error"])
    assert summary == ("findings", 1, "zh", None)
    assert len(report["findings"]) == len(EXPECTED) and len(report["revisions"]) == 10
    for item in report["findings"]:
        assert set(item) == {"file", "line", "rule", "source", "revision", "message", "advice", "url"}
        assert item["source"] == ("squawk" if item["rule"] in squawk.ENABLED else "scryer")
        assert item["url"].startswith(("http://127.0.0.1:8000/", "https://squawkhq.com/")), item["url"]
        assert "/en/" not in item["url"]
    error = json.loads(run_lint("-c", "nope.ini", "--json").stdout)
    assert (error["status"], error["exit_code"], error["findings"]) == ("error", 2, [])


def test_github_annotations():
    done = run_lint("-c", str(RULES_INI.relative_to(REPO_ROOT)), "--format", "github", "--lang", "en")
    assert done.returncode == 1
    lines = done.stdout.splitlines()
    assert len(lines) == len(EXPECTED)
    first = "tests/fixtures/lint/rules/app/db.py"
    assert lines[0].startswith(
        f"::warning file={first},line={line_of(REPO_ROOT / first, 'create_all(')},"
        "title=create-all::metadata.create_all() creates tables outside Alembic"
    )
    for line in lines:
        assert re.fullmatch(r"::warning file=[^,:]+,line=\d+,title=[\w-]+::[^\n]+", line), line


def test_messages_are_translated():
    report = lint(RULES_INI, lang="zh")
    ours = [item for item in report.findings if item.source == "scryer"]
    assert ours and all(re.search(r"[\u4e00-\u9fff]", item.message + item.advice) for item in ours), [
        item.message for item in ours
    ]
    assert report.summary().startswith(f"{len(report.findings)} 个问题")


def test_every_message_has_a_chinese_translation():
    catalogue = i18n.translations("zh")
    missing = []
    for path in LINT_PACKAGE.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Call)
                and getattr(node.func, "id", None) == "_"
                and node.args
                and isinstance(node.args[0], ast.Constant)
            ):
                if catalogue.gettext(node.args[0].value) == node.args[0].value:
                    missing.append(f"{path.name}: {node.args[0].value}")
    assert not missing, missing


def test_the_workflow_lints_what_a_pull_request_adds():
    workflow = (REPO_ROOT / ".github" / "workflows" / "ci.yml").read_text(encoding="utf-8")
    assert 'scryer-runbook lint --since-ref "origin/$BASE_REF" --format github' in workflow
    assert "BASE_REF: ${{ github.base_ref }}" in workflow and "fetch-depth: 0" in workflow


# --- the site page ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_the_page_explains_every_rule_and_squawk_choice(lang):
    page = (REPO_ROOT / "docs" / f"prevent-lint.{lang}.md").read_text(encoding="utf-8")
    for name in [*rules.RULES, "disable"]:
        assert re.search(rf"^#+ .*\{{#{name}\}}\s*$", page, re.M), f"{lang}: no section for {name}"
    for name in rules.RULES:
        slug, _ = LINKS[name]
        # Each rule links the runbook of the incident it prevents; one still being written is named until
        # it lands.
        if slug in SLUGS:
            assert f"(runbooks/{slug}.ipynb)" in page, f"{lang}: {name} does not link its runbook {slug}"
        elif slug:
            assert f"`{slug}`" in page, f"{lang}: {name} does not name its runbook {slug}"
    for name in [*squawk.ENABLED, *squawk.EXCLUDED]:
        assert f"| `{name}` |" in page, f"{lang}: squawk rule {name} is not in the tables"
    assert set(KNOWN_RULES) == set(rules.RULES) | set(squawk.ENABLED) | set(squawk.EXCLUDED)


def test_the_tables_name_exactly_the_rules_squawk_runs_by_default():
    """A statement per rule in tests/fixtures/lint/squawk-defaults.sql: what fires there with squawk's
    defaults is what the linter's tables (and so the page) must list, enabled or switched off with a
    reason."""
    sample = FIXTURES / "squawk-defaults.sql"
    done = subprocess.run(
        [squawk.binary(), "--reporter", "json", sample.name],
        cwd=sample.parent,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    fired = {item["rule_name"] for item in json.loads(done.stdout)}
    assert fired == set(squawk.ENABLED) | set(squawk.EXCLUDED)
    assert not set(squawk.ENABLED) & set(squawk.EXCLUDED)


def test_site_sample_is_real_output():
    """docs/snippets/lint-findings*.txt: what the page shows, from a real run (SCRYER_UPDATE_SNIPPETS=1
    rewrites them)."""
    ini = RULES_INI.relative_to(REPO_ROOT).as_posix()
    for name, lang in (("lint-findings.txt", "en"), ("lint-findings-zh.txt", "zh")):
        done = run_lint("-c", ini, "--lang", lang)
        assert done.returncode == 1
        check_sample(name, f"$ scryer-runbook lint -c {ini}\n{done.stdout}{done.stderr}")


# --- the incidents are real ---------------------------------------------------------------------------------


def chain_of(tmp_path: Path, revision: str) -> Path:
    """A copy of the rules fixture with only r01_accounts and ``revision`` on top of it."""
    copy = copy_fixture("rules", tmp_path)
    for path in (copy / "migrations" / "versions").glob("r*.py"):
        if path.stem not in ("r01_accounts", revision):
            path.unlink()
    path = copy / "migrations" / "versions" / f"{revision}.py"
    text = re.sub(r"^down_revision = .*$", 'down_revision = "r01_accounts"', path.read_text(), flags=re.M)
    path.write_text(text)
    return copy


@pytest.mark.parametrize(
    "revision, error",
    [
        ("r02_add_the_accounts_email_column_for_logins", "value too long for type character varying(32)"),
        ("r06_concurrently", "CREATE INDEX CONCURRENTLY cannot run inside a transaction block"),
        ("r07_not_null", 'column "country" of relation "accounts" contains null values'),
    ],
)
def test_what_a_rule_flags_really_fails_on_postgresql(scratch, tmp_path, revision, error):
    url = scratch.database("lint")
    copy = chain_of(tmp_path, revision)
    project.alembic("upgrade", "r01_accounts", url=url, project=copy, check=True)
    with psycopg.connect(url, autocommit=True) as conn:  # production has rows
        conn.execute("INSERT INTO accounts (name) VALUES ('ada')")
    failed = project.alembic("upgrade", "head", url=url, project=copy)
    assert failed.returncode != 0 and error in failed.output, failed.output


def test_the_clean_project_migrates_on_postgresql(scratch):
    result = project.alembic("upgrade", "head", url=scratch.database("lint"), project=FIXTURES / "clean")
    assert result.returncode == 0, result.output
