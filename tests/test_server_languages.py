"""A server that prints its errors in Chinese (lc_messages = zh_CN.UTF-8) is classified like an English one.

Every failure is met for real on both servers; the tests also check the Chinese server really spoke Chinese, so a
classifier that only knew English could not pass.
"""

from __future__ import annotations

import gettext
import os
import re
import subprocess
import sys

import psycopg
import pytest
from psycopg import sql
from sqlalchemy.engine import URL

from scryer_runbook import problems, project, sandbox, scenarios, server, urls

SERVER_LANGUAGES = {"en": "C", "zh": "zh_CN.UTF-8"}
CJK = re.compile(r"[\u4e00-\u9fff]")


def test_the_chinese_locale_and_postgresqls_catalogues_are_installed():
    """What the other tests need from the machine (`make system-deps` and .ci/run install them as root)."""
    locales = (
        subprocess.run(["locale", "-a"], capture_output=True, text=True, check=True).stdout.lower().split()
    )
    assert "zh_cn.utf8" in locales, "generate it: localedef -i zh_CN -f UTF-8 zh_CN.UTF-8 (package locales)"
    assert "zh_CN" in problems.catalogue_files(), (
        f"no PostgreSQL zh_CN catalogue under {problems.LOCALE_DIRS}"
    )


def test_the_look_up_agrees_with_gettext():
    """problems.lookup bisects a .mo file; gettext reads it whole: the same answer for every msgid, in every file."""
    checked = 0
    for paths in problems.catalogue_files().values():
        for path in paths[:2]:
            with path.open("rb") as source:
                catalogue = gettext.GNUTranslations(source)._catalog  # noqa: SLF001 - the catalogue as read
            for msgid, translated in list(catalogue.items())[::97]:
                if isinstance(msgid, str) and msgid and translated:
                    assert problems.lookup(path, msgid) == translated, (path, msgid)
                    checked += 1
            assert problems.lookup(path, "no such message, surely") is None
    assert checked > 200


@pytest.fixture(scope="module", params=sorted(SERVER_LANGUAGES))
def lang_server(request):
    """(language, a fresh server printing its messages in it, a Sandbox on it)."""
    srv = server.start_server(settings={"lc_messages": SERVER_LANGUAGES[request.param]})
    try:
        with sandbox.Sandbox(srv.url) as box:
            yield request.param, srv, box
    finally:
        srv.stop()


def connect_failure(lang: str, **connect) -> tuple[problems.Problem, str]:
    with pytest.raises(psycopg.OperationalError) as caught:
        psycopg.connect(connect_timeout=5, **connect).close()
    message = str(caught.value)
    assert caught.value.sqlstate is None  # the text is all there is
    assert bool(CJK.search(message)) == (lang == "zh"), message  # the server spoke its language
    url = URL.create(
        "postgresql",
        username=connect["user"],
        host=connect["host"],
        port=connect["port"],
        database=connect["dbname"],
    )
    return problems.explain_connect_error(caught.value, url), message


def tcp(srv, **kwargs) -> dict:
    return {"host": "127.0.0.1", "port": srv.port, "user": server.SUPERUSER, "dbname": "postgres", **kwargs}


def test_wrong_password(lang_server):
    lang, srv, box = lang_server
    role, password = box.role("app")
    problem, message = connect_failure(lang, **tcp(srv, user=role, password=password + "-wrong"))
    assert (problem.kind, problem.runbook) == ("password", "not-ready"), message
    assert role in problem.summary and "-wrong" not in problem.line()


def test_role_missing(lang_server):
    lang, srv, _ = lang_server
    problem, message = connect_failure(
        lang, host=str(srv.root / "sockets"), port=srv.port, user="nosuchrole", dbname="postgres"
    )
    assert (problem.kind, problem.runbook) == ("role-missing", "not-ready"), message


def test_database_missing(lang_server):
    lang, srv, _ = lang_server
    problem, message = connect_failure(lang, **tcp(srv, dbname="nosuchdb"))
    assert (problem.kind, problem.runbook) == ("database-missing", "not-ready"), message
    assert "'nosuchdb'" in problem.summary


def test_no_connect_privilege(lang_server):
    lang, srv, box = lang_server
    database = urls.parse(box.database("noconnect")).database
    role, password = box.role("app")
    with psycopg.connect(srv.url, autocommit=True) as conn:
        conn.execute(sql.SQL("REVOKE CONNECT ON DATABASE {} FROM PUBLIC").format(sql.Identifier(database)))
    problem, message = connect_failure(lang, **tcp(srv, user=role, password=password, dbname=database))
    assert (problem.kind, problem.runbook) == ("no-connect", "permissions"), message


@pytest.mark.parametrize("state", sorted(scenarios.NOT_ACCEPTING_STATES))
@pytest.mark.parametrize("lang", sorted(SERVER_LANGUAGES))
def test_server_not_accepting_sessions(lang, state):
    with scenarios.server_in_state(state, settings={"lc_messages": SERVER_LANGUAGES[lang]}) as url:
        parsed = urls.parse(url)
        problem, message = connect_failure(
            lang, host=parsed.host, port=parsed.port, user=parsed.username, dbname=parsed.database
        )
    assert (problem.kind, problem.runbook) == (state, "not-ready"), message


def statement_failure(lang: str, url: str, statement: str) -> problems.Problem:
    with psycopg.connect(url, autocommit=True) as conn, pytest.raises(psycopg.Error) as caught:
        conn.execute(statement)
    assert bool(CJK.search(str(caught.value))) == (lang == "zh"), str(caught.value)
    return problems.explain_statement_error(caught.value)


def test_relation_already_exists(lang_server):
    lang, _, box = lang_server
    url = box.database("exists")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE TABLE users (id int)")
    problem = statement_failure(lang, url, "CREATE TABLE users (id int)")
    assert (problem.kind, problem.runbook) == ("already-exists", "already-exists")
    assert '"users"' in problem.summary


def test_permission_denied(lang_server):
    lang, _, box = lang_server
    url = box.database("perm")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE TABLE users (id int)")
    role, password = box.role("app")
    problem = statement_failure(lang, sandbox.as_role(url, role, password), "SELECT * FROM users")
    assert (problem.kind, problem.runbook) == ("permission-denied", "permissions")


def test_alembic_names_a_missing_database(lang_server, monkeypatch):
    """The real `alembic` CLI: the Scryer project's env.py says in one line what the server said, in the server's
    language; `scryer-runbook explain` (what the entrypoint runs on that output) names it whatever the language."""
    lang, srv, _ = lang_server
    monkeypatch.setenv("SCRYER_LANG", "en")
    url = f"postgresql://{server.SUPERUSER}@127.0.0.1:{srv.port}/nosuchdb"
    result = project.alembic("current", url=url)
    assert result.returncode != 0
    missing = {"en": 'database "nosuchdb" does not exist', "zh": '数据库 "nosuchdb" 不存在'}[lang]
    assert re.search(rf"^FAILED: cannot connect to .*/nosuchdb: .*{missing}$", result.output, re.M), (
        result.output
    )
    explained = subprocess.run(
        [sys.executable, "-m", "scryer_runbook.cli", "explain", "--url", url, "--lang", "en"],
        input=result.output,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert explained.stdout.startswith(
        f"database 'nosuchdb' does not exist on 127.0.0.1:{srv.port} (runbook: "
    )


def test_the_wait_gives_up_at_once_on_a_wrong_password(lang_server):
    _, srv, box = lang_server
    role, password = box.role("app")
    url = sandbox.as_role(
        f"postgresql://{server.SUPERUSER}@127.0.0.1:{srv.port}/postgres", role, password + "-wrong"
    )
    env = {key: value for key, value in os.environ.items() if not key.startswith("POSTGRES_")}
    done = subprocess.run(
        [sys.executable, "-m", "scryer_runbook.cli", "wait", "--timeout", "30"],
        env={**env, "DATABASE_URL": url, "SCRYER_LANG": "en"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1, done.stderr
    assert f"password authentication failed for user '{role}'" in done.stderr


def test_every_installed_translation_is_classified_as_its_own_kind():
    """Each message the classifier knows, as every installed catalogue prints it, names that kind and no other."""
    checked = 0
    for kind, messages, _summary, _runbook in problems._CONNECT_KINDS:  # noqa: SLF001
        for message in messages:
            for lang, translated in problems.translations(message).items():
                text = "connection failed: " + translated.replace("%s", "scryer").replace("%d", "5432")
                assert problems.connect_kind(text) == kind, (lang, message, translated)
                checked += 1
    assert checked > 50
