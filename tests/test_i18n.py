"""The command line speaks the reader's language: every message of cli, wait, pg, urls, server and problems has
its 中文 in the catalogue, and the commands, run for real, print no English sentence in 中文."""

from __future__ import annotations

import os
import re
import string
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
from babel.messages.extract import extract_from_file
from babel.messages.pofile import read_po

from scryer_runbook import i18n, problems, scenarios, urls

PACKAGE = Path(i18n.__file__).parent
MODULES = ["cli", "wait", "pg_command", "urls", "server", "problems", "explain"]
CLI_PO = i18n.LOCALE_DIR / "zh" / "cli.po"
URL = re.compile(r"\b[a-z][a-z0-9+.-]*://\S+")
QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"|`[^`]*`")
ENGLISH_SENTENCE = re.compile(r"[A-Za-z]{2,}(?:[ -]+[A-Za-z]{2,}){2,}")


def english_sentences(text: str) -> list[str]:
    """Runs of three or more English words, once URLs, quoted names and commands are left out."""
    text = QUOTED.sub("", URL.sub("", text))
    return [match for match in ENGLISH_SENTENCE.findall(text) if not match.startswith("scryer-runbook")]


def messages(module: str) -> list[str]:
    """The msgids ``module`` hands to ``_()`` or marks with ``N_()`` (Babel's extractor, as pybabel would)."""
    found = extract_from_file("python", PACKAGE / f"{module}.py", keywords={"_": None, "N_": None})
    return [message for _line, message, _comments, _context in found]


def placeholders(text: str) -> set[str]:
    return {
        field for _literal, field, _spec, _conversion in string.Formatter().parse(text) if field is not None
    }


@pytest.mark.parametrize("module", MODULES)
def test_every_message_has_its_chinese(module):
    found = messages(module)
    assert found, f"{module}.py prints nothing through _()"
    zh = i18n.translations("zh")
    missing = [message for message in found if zh.gettext(message) == message]
    assert not missing, f"no 中文 in locale/zh/*.po for: {missing}"


def test_translations_keep_their_placeholders_and_are_used():
    with CLI_PO.open("rb") as source:
        catalogue = read_po(source, locale="zh")
    used = {message for module in MODULES for message in messages(module)}
    for entry in catalogue:
        if not entry.id:
            continue
        assert entry.string and placeholders(entry.string) == placeholders(entry.id), entry.id
        assert entry.id in used, f"cli.po translates a message no module prints: {entry.id!r}"


def run(args: list[str], **env: str) -> subprocess.CompletedProcess:
    clean = {
        key: value
        for key, value in os.environ.items()
        if key not in ("SCRYER_LANG", "LANG", "LC_ALL", "LC_MESSAGES") and not key.startswith("POSTGRES_")
    }
    return subprocess.run(
        [sys.executable, "-m", "scryer_runbook.cli", *args],
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def refused_url() -> str:
    return f"postgresql://scryer:pw@127.0.0.1:{scenarios.unused_port()}/scryer"


@pytest.mark.parametrize("env", [{"SCRYER_LANG": "zh"}, {"LANG": "zh_CN.UTF-8"}], ids=["SCRYER_LANG", "LANG"])
def test_the_wait_in_chinese(env):
    done = run(["wait", "--timeout", "0"], DATABASE_URL=refused_url(), **env)
    assert done.returncode == 1
    assert done.stderr.startswith("错误：PostgreSQL 未就绪\n"), done.stderr
    assert "拒绝连接：那里没有服务器在监听（runbook：" in done.stderr
    assert f"{problems.DOCS_URL}/runbooks/not-ready/" in done.stderr  # the 中文 page, at the site's root
    assert not english_sentences(done.stderr), done.stderr


def test_scryer_lang_wins_over_the_locale():
    done = run(["wait", "--timeout", "0"], DATABASE_URL=refused_url(), LANG="zh_CN.UTF-8", SCRYER_LANG="en")
    assert done.stderr.startswith("ERROR: PostgreSQL is not ready\nconnection refused by"), done.stderr
    assert "/en/runbooks/not-ready/" in done.stderr


@pytest.mark.parametrize(
    "args, env",
    [
        (["wait"], {"DATABASE_URL": "mysql://scryer@db/scryer"}),
        (["wait"], {"DATABASE_URL": "postgresql://scryer@db:notaport/scryer"}),
        (["wait"], {"DATABASE_URL": "", "POSTGRES_HOST": "db", "POSTGRES_PORT": "x"}),
        (["wait"], {"DATABASE_URL": ""}),
    ],
    ids=["driver", "malformed", "postgres-port", "unset"],
)
def test_bad_input_is_named_in_chinese(args, env, tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "scryer_runbook.cli", *args],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        env={**{k: v for k, v in os.environ.items() if k != "DATABASE_URL"}, **env, "SCRYER_LANG": "zh"},
    )
    assert done.returncode == 2, done.stderr
    assert len(done.stderr.splitlines()) == 1 and done.stderr.startswith("错误："), done.stderr
    assert not english_sentences(done.stderr), done.stderr


def test_lang_on_the_command_line_wins(tmp_path):
    """`--lang` is read before anything is printed: the command's own errors come in that language."""
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "scryer_runbook.cli",
            "doctor",
            "--lang",
            "zh",
            "--url",
            "mysql://scryer@db/scryer",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "SCRYER_LANG": "en"},
    )
    assert done.returncode == 2, done.stderr
    assert "不受支持" in done.stderr and not english_sentences(done.stderr.split("：", 1)[-1]), done.stderr


def test_pg_status_and_help_in_chinese():
    done = run(["pg", "status"], SCRYER_LANG="zh")
    assert done.stdout.startswith(("PostgreSQL 沙箱服务器运行在", "未运行")), done.stdout
    assert not english_sentences(done.stdout), done.stdout
    helped = run(["--help"], SCRYER_LANG="zh").stdout
    assert "对数据库和 Alembic 项目做一次只读体检" in helped and "沙箱服务器" in helped


def test_problem_summaries_follow_the_language(monkeypatch):
    url = urls.parse(refused_url())
    with pytest.raises(psycopg.OperationalError) as caught:
        psycopg.connect(urls.libpq(url), connect_timeout=5)
    where = f"127.0.0.1:{url.port}"
    for lang, expected in (
        (None, f"{where} 拒绝连接：那里没有服务器在监听（runbook：{problems.DOCS_URL}/runbooks/"),
        (
            "en",
            f"connection refused by {where}: no server is listening there (runbook: "
            f"{problems.DOCS_URL}/en/runbooks/",
        ),
    ):
        monkeypatch.setenv("SCRYER_LANG", "zh")
        i18n.set_language(lang)
        try:
            assert problems.explain_connect_error(caught.value, url).line().startswith(expected)
        finally:
            i18n.set_language(None)


def test_no_english_sentence_detector_sees_english():
    assert english_sentences("connection refused by 127.0.0.1:1: no server is listening there")
    assert not english_sentences("127.0.0.1:1 拒绝连接（runbook：https://example.org/runbooks/not-ready/）")
