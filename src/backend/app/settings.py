"""Where Scryer finds its database. Alembic's env.py and the app read their URLs here, and nowhere else.

- ``DATABASE_URL`` (the environment, else ``.env``, as the guide's 环境准备 sets it up): the schema owner's URL,
  which Alembic migrates with. The guide writes ``postgresql+asyncpg://``; every PostgreSQL driver name is accepted
  and run on psycopg 3, the one driver installed.
- ``POSTGRES_HOST`` / ``POSTGRES_PORT`` / ``POSTGRES_USER`` / ``POSTGRES_PASSWORD`` / ``POSTGRES_DB``: the app's own
  role in the scryer-dev container, where ``DATABASE_URL`` is the owner's. Without ``POSTGRES_HOST`` the app uses
  ``DATABASE_URL`` too.

Errors are one line and never show a password.
"""

from __future__ import annotations

import os

from dotenv import dotenv_values
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

DRIVER = "postgresql+psycopg"


class SettingsError(ValueError):
    """A database setting is missing or unusable; the message is one password-free line."""


def database_url() -> URL:
    """The migration owner's URL, on psycopg 3."""
    text = os.environ.get("DATABASE_URL") or dotenv_values(".env").get("DATABASE_URL")
    if not text:
        raise SettingsError("DATABASE_URL is not set (environment or .env)")
    try:
        url = make_url(text)
    except (ArgumentError, ValueError) as error:  # ValueError: a port that is not a number
        raise SettingsError(f"DATABASE_URL is not a valid database URL: {error}") from None
    if url.get_backend_name() not in ("postgresql", "postgres"):
        raise SettingsError(
            f"DATABASE_URL must be a PostgreSQL URL (postgresql://...), not {url.drivername}://"
        )
    return url.set(drivername=DRIVER)


def app_url() -> URL:
    """The app's URL: its own role from the POSTGRES_* settings in the container, else DATABASE_URL."""
    env = os.environ
    if not env.get("POSTGRES_HOST"):
        return database_url()
    port = env.get("POSTGRES_PORT") or "5432"
    if not port.isdigit():
        raise SettingsError(f"POSTGRES_PORT must be a port number, not {port!r}")
    return URL.create(
        DRIVER,
        username=env.get("POSTGRES_USER"),
        password=env.get("POSTGRES_PASSWORD"),
        host=env["POSTGRES_HOST"],
        port=int(port),
        database=env.get("POSTGRES_DB"),
    )


def shown(url: URL) -> str:
    """The URL as logs may show it: plain ``postgresql://``, password hidden."""
    return url.set(drivername="postgresql").render_as_string(hide_password=True)


def first_line(error: BaseException) -> str:
    """A driver error's first line (libpq never puts the password in it)."""
    error = getattr(error, "orig", None) or error  # SQLAlchemy wraps the driver's exception
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
