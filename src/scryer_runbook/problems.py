"""Turn a failure into one clear line that names the problem and the runbook that helps.

Connection failures reach us as ``psycopg.OperationalError`` with libpq's text and, for failures before a
session exists, no SQLSTATE, so the text is what tells them apart (the server runs with ``lc_messages=C``).
"""

from __future__ import annotations

import locale
import os
import re
from dataclasses import dataclass

import psycopg

from scryer_runbook.catalogue import SLUGS
from scryer_runbook.i18n import _
from scryer_runbook.urls import BadURL, mask_text

DOCS_URL = os.environ.get("SCRYER_DOCS_URL", "http://127.0.0.1:8000").rstrip("/")
RUNBOOKS = SLUGS  # the catalogue is the one list


def default_lang() -> str:
    lang = os.environ.get("LANG") or (locale.getlocale()[0] or "")
    return "zh" if lang.lower().startswith("zh") else "en"


def runbook_url(slug: str, lang: str | None = None) -> str:
    """The runbook page in the reader's language (中文 is the site's default language, at the root)."""
    assert slug in RUNBOOKS, slug
    prefix = "" if (lang or default_lang()) == "zh" else "/en"
    return f"{DOCS_URL}{prefix}/runbooks/{slug}/"


@dataclass(frozen=True)
class Problem:
    kind: str
    summary: str
    runbook: str

    def line(self, lang: str | None = None) -> str:
        return f"{self.summary} (runbook: {runbook_url(self.runbook, lang)})"


class ProblemError(Exception):
    """A failure already explained: ``str()`` is the one line to print."""

    def __init__(self, problem: Problem):
        super().__init__(problem.line())
        self.problem = problem


# (kind, pattern in libpq's message, summary, runbook); first match wins.
_CONNECT_PATTERNS = [
    ("refused", r"Connection refused", "connection refused by {host}:{port}: no server is listening there", "not-ready"),
    ("unresolved", r"failed to resolve host|could not translate host name|Name or service not known",
     "host name {host!r} could not be resolved", "not-ready"),
    ("timeout", r"timeout expired|timed out", "no answer from {host}:{port} before the connect timeout", "not-ready"),
    ("starting", r"the database system is starting up|not yet accepting connections",
     "the server at {host}:{port} is still starting up", "not-ready"),
    ("not-accepting", r"the database system is not accepting connections",
     "the server at {host}:{port} is up but not accepting connections (in recovery, or a standby without hot_standby)",
     "not-ready"),
    ("shutting-down", r"the database system is shutting down", "the server at {host}:{port} is shutting down",
     "not-ready"),
    ("password", r"password authentication failed", "password authentication failed for user {user!r}",
     "not-ready"),
    ("no-password", r"no password supplied", "the server wants a password for user {user!r} and none was given",
     "not-ready"),
    ("role-missing", r'role "[^"]*" does not exist', "role {user!r} does not exist on {host}:{port}", "not-ready"),
    ("database-missing", r'database "[^"]*" does not exist', "database {database!r} does not exist on {host}:{port}",
     "not-ready"),
    ("no-connect", r"permission denied for database", "user {user!r} has no CONNECT privilege on database {database!r}",
     "permissions"),
    ("unreachable", r"No route to host|Network is unreachable", "{host}:{port} is unreachable from here", "not-ready"),
]


def first_line(error: BaseException) -> str:
    """An error's first line with any password masked (its class name when it has no text)."""
    text = str(error).strip()
    return mask_text(text.splitlines()[0] if text else type(error).__name__)


def explain_connect_error(error: Exception, url) -> Problem:
    """Name a failed connection. ``url`` is a parsed SQLAlchemy URL; its password is never used here."""
    text = str(error)
    where = {"host": url.host or "localhost", "port": url.port or 5432, "user": url.username or "",
             "database": url.database or ""}
    for kind, pattern, summary, runbook in _CONNECT_PATTERNS:
        if re.search(pattern, text):
            return Problem(kind, _(summary).format(**where), runbook)  # 中文 in locale/zh/doctor.po
    return Problem("connect-failed", _("could not connect to {host}:{port}: {error}").format(
        host=where["host"], port=where["port"], error=first_line(error)), "not-ready")


def explain(error: BaseException, url=None) -> Problem | None:
    """A Problem for the failures people hit before any migration runs; None for anything else."""
    if isinstance(error, ProblemError):
        return error.problem
    if isinstance(error, BadURL):
        return Problem("bad-url", str(error), "not-ready")
    original = getattr(error, "orig", None) or error  # SQLAlchemy wraps the driver's exception
    if isinstance(original, psycopg.OperationalError) and url is not None and original.sqlstate is None:
        return explain_connect_error(original, url)
    return None
