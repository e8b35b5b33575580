"""Database URLs: where they come from, how they are normalised for psycopg 3, and how they are shown.

Every URL goes through SQLAlchemy's ``make_url``: it parses, it re-targets the driver without breaking
escaped passwords, and it renders with the password hidden.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from dotenv import dotenv_values
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from scryer_runbook.i18n import _

# Drivers people put in DATABASE_URL for PostgreSQL; all of them run on psycopg 3 here.
POSTGRES_DRIVERS = {
    "postgres",
    "postgresql",
    "postgresql+psycopg",
    "postgresql+psycopg2",
    "postgresql+asyncpg",
    "postgresql+pg8000",
    "postgresql+psycopg_async",
}
PSYCOPG = "postgresql+psycopg"


class BadURL(ValueError):
    """DATABASE_URL is missing, malformed, or names a database that is not PostgreSQL."""


def database_url(env_file: str | Path = ".env") -> str:
    """``DATABASE_URL`` from the environment, else from the ``.env`` file, as the guide's 环境准备 expects."""
    url = os.environ.get("DATABASE_URL") or dotenv_values(env_file).get("DATABASE_URL")
    if not url:
        raise BadURL(_("DATABASE_URL is not set (environment or .env)"))
    return url


def parse(url: str | URL, source: str = "DATABASE_URL") -> URL:
    """Parse a PostgreSQL URL and point it at psycopg 3 (``postgresql+asyncpg://`` from the guide included).

    ``source`` names where the URL came from in the error message (an option, a variable)."""
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError) as error:
        raise BadURL(
            _("malformed {source} {url!r}: {error}").format(
                source=source, url=mask_text(str(url)), error=error
            )
        ) from None
    if parsed.drivername not in POSTGRES_DRIVERS:
        raise BadURL(
            _(
                "unsupported driver {driver!r} in {source}: this project needs PostgreSQL "
                "(postgresql://, postgresql+psycopg:// or postgresql+asyncpg://)"
            ).format(driver=parsed.drivername, source=source)
        )
    return parsed.set(drivername=PSYCOPG)


def libpq(url: str | URL) -> str:
    """The URL as libpq/psycopg take it (``postgresql://...``), password included: never print this."""
    return parse(url).set(drivername="postgresql").render_as_string(hide_password=False)


def sqlalchemy(url: str | URL) -> str:
    """The URL for ``create_engine``/``create_async_engine`` on psycopg 3, password included: never print this."""
    return parse(url).render_as_string(hide_password=False)


def masked(url: str | URL) -> str:
    """The URL to show people: the password replaced by ``***``."""
    return make_url(url).render_as_string(hide_password=True)


_PASSWORD_IN_URL = re.compile(r"(?P<head>[a-z][a-z0-9+.-]*://[^:/@\s]*:)(?P<password>[^@\s]+)(?=@)", re.I)
_PASSWORD_SETTING = re.compile(
    r"(?P<head>(password|PGPASSWORD|POSTGRES_PASSWORD)\s*[=:]\s*['\"]?)(?P<password>[^\s'\"&]+)", re.I
)


def mask_text(text: str) -> str:
    """Hide passwords in free text (error messages, logs, notebook outputs) that may quote a URL or DSN."""
    text = _PASSWORD_IN_URL.sub(lambda m: m["head"] + "***", text)
    return _PASSWORD_SETTING.sub(lambda m: m["head"] + "***", text)
