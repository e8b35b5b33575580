"""Turn a failure into one clear line that names the problem and the runbook that helps, in the reader's language.

Where PostgreSQL gives a SQLSTATE (``error.sqlstate``), the code decides. Failures while connecting come without
one: libpq hands psycopg text only, the server's part in the server's ``lc_messages`` language (``致命错误:  数据库
"scryer" 不存在``) and libpq's and the system's parts in the client's. So the text decides there, and each message
it looks for is written once, as PostgreSQL's (or libpq's, or libc's) own English msgid, and turned into a pattern
for every language whose message catalogue is installed (Debian: ``postgres-15.mo``, ``libpq5-15.mo``, ``libc.mo``
under /usr/share/locale). Without the catalogues only the English texts are recognised.
"""

from __future__ import annotations

import bisect
import functools
import itertools
import mmap
import os
import re
import struct
from dataclasses import dataclass
from pathlib import Path

import psycopg

from scryer_runbook import i18n
from scryer_runbook.catalogue import RUNBOOKS as CATALOGUE
from scryer_runbook.catalogue import SLUGS
from scryer_runbook.i18n import N_, _
from scryer_runbook.urls import BadURL, mask_text

# The published site (mkdocs.yml's site_url, checked by tests/test_pages.py). SCRYER_DOCS_URL points the links
# elsewhere, e.g. at `make serve` (http://127.0.0.1:8000).
SITE_URL = "https://scryer-project.github.io/scryer-runbook/"
DOCS_URL = (os.environ.get("SCRYER_DOCS_URL") or SITE_URL).rstrip("/")
RUNBOOKS = SLUGS  # the catalogue is the one list
default_lang = i18n.current  # the links' language, where callers do not pass one


def runbook_url(slug: str, lang: str | None = None) -> str:
    """The runbook page in the reader's language (中文 is the site's default language, at the root)."""
    assert slug in RUNBOOKS, slug
    prefix = "" if (lang or i18n.current()) == "zh" else "/en"
    return f"{DOCS_URL}{prefix}/runbooks/{slug}/"


@dataclass(frozen=True)
class Problem:
    kind: str
    summary: str  # in the language in force when the problem was named
    runbook: str

    def line(self, lang: str | None = None) -> str:
        return _("{summary} (runbook: {url})").format(
            summary=self.summary, url=runbook_url(self.runbook, lang)
        )


class ProblemError(Exception):
    """A failure already explained: ``str()`` is the one line to print."""

    def __init__(self, problem: Problem):
        super().__init__(problem.line())
        self.problem = problem


# (kind, the messages that show it, as printed in English (printf msgids), summary, runbook); first match wins.
_CONNECT_KINDS = [
    (
        "refused",
        ("Connection refused",),
        N_("connection refused by {host}:{port}: no server is listening there"),
        "not-ready",
    ),
    (
        "unresolved",
        (
            "failed to resolve host",
            'could not translate host name "%s" to address: %s',
            "Name or service not known",
            "Temporary failure in name resolution",
        ),
        N_("host name {host!r} could not be resolved"),
        "not-ready",
    ),
    (
        "timeout",
        ("timeout expired", "Connection timed out"),
        N_("no answer from {host}:{port} before the connect timeout"),
        "not-ready",
    ),
    (
        "starting",
        ("the database system is starting up", "the database system is not yet accepting connections"),
        N_("the server at {host}:{port} is still starting up"),
        "not-ready",
    ),
    (
        "not-accepting",
        ("the database system is not accepting connections",),
        N_(
            "the server at {host}:{port} is up but not accepting connections (in recovery, or a standby without "
            "hot_standby)"
        ),
        "not-ready",
    ),
    (
        "shutting-down",
        ("the database system is shutting down",),
        N_("the server at {host}:{port} is shutting down"),
        "not-ready",
    ),
    (
        "password",
        ('password authentication failed for user "%s"',),
        N_("password authentication failed for user {user!r}"),
        "not-ready",
    ),
    (
        "no-password",
        ("no password supplied",),
        N_("the server wants a password for user {user!r} and none was given"),
        "not-ready",
    ),
    (
        "role-missing",
        ('role "%s" does not exist',),
        N_("role {user!r} does not exist on {host}:{port}"),
        "not-ready",
    ),
    (
        "database-missing",
        ('database "%s" does not exist',),
        N_("database {database!r} does not exist on {host}:{port}"),
        "not-ready",
    ),
    (
        "no-connect",
        ('permission denied for database "%s"',),
        N_("user {user!r} has no CONNECT privilege on database {database!r}"),
        "permissions",
    ),
    (
        "unreachable",
        ("No route to host", "Network is unreachable"),
        N_("{host}:{port} is unreachable from here"),
        "not-ready",
    ),
]
# SQLSTATEs that name a connection problem on their own; 57P03 (cannot_connect_now) and 28000 cover several kinds,
# so the text still decides between those.
_CONNECT_SQLSTATES = {"28P01": "password", "3D000": "database-missing", "42501": "no-connect"}
# Statement failures the runbooks answer: SQLSTATE -> (kind, summary); the runbook is the catalogue's.
_STATEMENT_SQLSTATES = {
    "42P07": ("already-exists", N_("the migration creates something that already exists: {detail}")),
    "42501": ("permission-denied", N_("the role is missing a privilege: {detail}")),
}

# Where message catalogues live: the system's locale folder (Debian's PostgreSQL packages), a source build's.
LOCALE_DIRS = (
    Path("/usr/share/locale"),
    Path("/usr/local/share/locale"),
    Path("/usr/local/pgsql/share/locale"),
)
_POSTGRES_DOMAINS = ("postgres.mo", "postgres-[0-9]*.mo", "libpq.mo", "libpq5-[0-9]*.mo")
_PRINTF = re.compile(
    r"(%(?:\d+\$)?[-+ #0']*(?:\d+|\*)?(?:\.\d+)?(?:hh|h|ll|l|L|q|j|z|t)?[diouxXeEfFgGaAcspm])"
)


def message_pattern(message: str) -> str:
    """A printf-style message as a regex: its text literal, each placeholder any text (``%%`` a percent sign)."""
    parts = [
        None if index % 2 else part for index, part in enumerate(_PRINTF.split(message.replace("%%", "\0")))
    ]
    while parts and not (parts[0] or "").strip():  # a search needs no leading or trailing wildcard
        parts.pop(0)
    while parts and not (parts[-1] or "").strip():
        parts.pop()
    parts[0], parts[-1] = parts[0].lstrip(), parts[-1].rstrip()
    return "".join(".*?" if part is None else re.escape(part.replace("\0", "%")) for part in parts)


@functools.cache
def catalogue_files() -> dict[str, list[Path]]:
    """language -> its installed PostgreSQL catalogues (server, libpq), then libc's (system errors such as
    "Connection refused") for the languages PostgreSQL speaks."""
    found: dict[str, list[Path]] = {}
    for folder in LOCALE_DIRS:
        for domain in _POSTGRES_DOMAINS:
            for path in sorted(folder.glob(f"*/LC_MESSAGES/{domain}")):
                found.setdefault(path.parent.parent.name, []).append(path)
    for lang, paths in found.items():
        paths += [
            libc for folder in LOCALE_DIRS if (libc := folder / lang / "LC_MESSAGES" / "libc.mo").exists()
        ]
    return found


def lookup(path: Path, msgid: str) -> str | None:
    """``msgid``'s translation in the .mo file at ``path``, found by bisection (None when it has none).

    ``gettext.GNUTranslations`` reads a whole catalogue, about a second for PostgreSQL's (800 KB each); the .mo
    format keeps its msgids sorted, so a few look-ups take milliseconds (tests check both agree)."""
    data = _mapped(path)
    order = "<" if data[:4] == b"\xde\x12\x04\x95" else ">"
    count, originals, translated = struct.unpack_from(f"{order}3I", data, 8)
    wanted = msgid.encode()

    def entry(table: int, index: int) -> bytes:
        length, offset = struct.unpack_from(f"{order}2I", data, table + 8 * index)
        return data[offset : offset + length]

    index = bisect.bisect_left(range(count), wanted, key=lambda i: entry(originals, i))
    if index < count and entry(originals, index) == wanted:
        return entry(translated, index).decode() or None  # PostgreSQL's and libc's catalogues are UTF-8
    return None


@functools.cache
def _mapped(path: Path) -> mmap.mmap:
    with path.open("rb") as file:
        return mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ)


@functools.cache
def translations(message: str) -> dict[str, str]:
    """language -> ``message`` as that language's installed catalogues print it (languages without it left out)."""
    found = {}
    for lang, paths in catalogue_files().items():
        for path, msgid in itertools.product(
            paths, (message, message + "\n")
        ):  # libpq's msgids end in a newline
            text = lookup(path, msgid)
            if text:
                found[lang] = text.rstrip("\n")
                break
    return found


@functools.cache
def _connect_patterns(translated: bool) -> list[tuple[str, re.Pattern]]:
    """(kind, one regex for all its messages): in English, or (``translated``) in every installed language."""
    table = []
    for kind, messages, _summary, _runbook in _CONNECT_KINDS:
        texts = [
            text
            for message in messages
            for text in (translations(message).values() if translated else [message])
        ]
        if texts:
            table.append((kind, re.compile("|".join(message_pattern(text) for text in texts))))
    return table


def connect_kind(text: str) -> str | None:
    """The kind of connection failure ``text`` shows, in English or any installed language; None if none.

    English first: the catalogues are searched (once per process, about 0.1 s) only for a text it does not match."""
    for translated in (False, True):
        for kind, pattern in _connect_patterns(translated):
            if pattern.search(text):
                return kind
    return None


def first_line(error: BaseException) -> str:
    """An error's first line with any password masked (its class name when it has no text)."""
    text = str(error).strip()
    return mask_text(text.splitlines()[0] if text else type(error).__name__)


def explain_connect_error(error: Exception, url) -> Problem:
    """Name a failed connection. ``url`` is a parsed SQLAlchemy URL; its password is never used here."""
    where = {
        "host": url.host or "localhost",
        "port": url.port or 5432,
        "user": url.username or "",
        "database": url.database or "",
    }
    kind = _CONNECT_SQLSTATES.get(getattr(error, "sqlstate", None) or "") or connect_kind(str(error))
    for known, _messages, summary, runbook in _CONNECT_KINDS:
        if known == kind:
            return Problem(kind, _(summary).format(**where), runbook)
    return Problem(
        "connect-failed",
        _("could not connect to {host}:{port}: {reason}").format(reason=first_line(error), **where),
        "not-ready",
    )


def explain_statement_error(error: BaseException) -> Problem | None:
    """A Problem for a failed statement whose SQLSTATE a runbook answers (42P07, 42501); None for anything else.

    The server's own first line (in its language) is kept as the detail."""
    original = getattr(error, "orig", None) or error  # SQLAlchemy wraps the driver's exception
    sqlstate = getattr(original, "sqlstate", None) or ""
    if sqlstate not in _STATEMENT_SQLSTATES:
        return None
    diag = getattr(original, "diag", None)
    detail = (
        mask_text(diag.message_primary) if diag is not None and diag.message_primary else first_line(original)
    )
    return _statement_problem(sqlstate, detail)


def _statement_problem(sqlstate: str, detail: str) -> Problem | None:
    """The catalogue's runbook for a failed statement's SQLSTATE, with its summary where it has one."""
    entry = next((entry for entry in CATALOGUE if sqlstate in entry.sqlstates), None)
    if entry is None:
        return None
    kind, summary = _STATEMENT_SQLSTATES.get(sqlstate, (entry.slug, "{detail}"))
    return Problem(kind, _(summary).format(detail=detail), entry.slug)


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


# psycopg names the failed statement's SQLSTATE by its class in every traceback line SQLAlchemy prints:
# "sqlalchemy.exc.ProgrammingError: (psycopg.errors.DuplicateTable) relation ... already exists".
_DRIVER_ERROR_CLASS = re.compile(r"\bpsycopg2?\.errors\.(\w+)")


def explain_text(text: str, url=None) -> Problem | None:
    """A Problem for a failure known only from its printed text (a log, a pasted traceback); None when no
    runbook answers it. Connection failures are recognised in any installed server language, then the SQLSTATE
    behind the driver's error class, then the catalogue's exact error texts. ``url`` (parsed) fills in where a
    connection went; without it the summary is the text's own line."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    kind = connect_kind(text)
    if kind is not None:
        if url is not None:
            return explain_connect_error(psycopg.OperationalError(text), url)
        # the line that shows it (a message split over lines: the last one), always a single line
        line = next((line for line in reversed(lines) if connect_kind(line) == kind), lines[-1])
        runbook = next(runbook for known, *_rest, runbook in _CONNECT_KINDS if known == kind)
        return Problem(kind, mask_text(line), runbook)
    for line in reversed(lines):  # the last error line is the cause; earlier ones are context
        for name in _DRIVER_ERROR_CLASS.findall(line):
            sqlstate = getattr(getattr(psycopg.errors, name, None), "sqlstate", None) or ""
            detail = mask_text(line.split(") ", 1)[-1])  # the server's words, after "(psycopg.errors.X) "
            if problem := _statement_problem(sqlstate, detail):
                return problem
        for entry in CATALOGUE:
            if any(error in line for error in entry.errors):
                return Problem(entry.slug, mask_text(line), entry.slug)
    return None
