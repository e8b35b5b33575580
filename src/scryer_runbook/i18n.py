"""Every line the tools print, in the reader's language: one gettext catalogue, 中文 and English.

English msgids live in the code (``_("the server at {host}:{port} is still starting up").format(...)``); the 中文
translations live in ``locale/zh/*.po`` (one file per area, so people editing different modules do not collide),
read with Babel at first use and merged into one ``gettext`` catalogue. No compiled ``.mo`` is committed.

The language comes from ``set_language()`` (``--lang``, a notebook's ``lang`` parameter), else ``SCRYER_LANG``,
else the locale (``LANG=zh_CN.UTF-8`` → 中文), else English.
"""

from __future__ import annotations

import contextlib
import functools
import gettext
import io
import locale
import os
from pathlib import Path

LANGUAGES = ("zh", "en")
LOCALE_DIR = Path(__file__).parent / "locale"

_chosen: str | None = None


def default_lang() -> str:
    """``SCRYER_LANG``, else the locale's language; English when it is neither 中文 nor English."""
    wanted = (
        os.environ.get("SCRYER_LANG")
        or os.environ.get("LC_ALL")
        or os.environ.get("LC_MESSAGES")
        or os.environ.get("LANG")
        or (locale.getlocale()[0] or "")
    )
    return "zh" if wanted.lower().startswith("zh") else "en"


def set_language(lang: str | None) -> str:
    """Choose the language for this process (None: back to the default); returns the language in force."""
    global _chosen  # noqa: PLW0603 - one language per process, as gettext's own install() does
    if lang is not None and lang not in LANGUAGES:
        raise ValueError(f"unknown language {lang!r} (choose from {', '.join(LANGUAGES)})")
    _chosen = lang
    return current()


def current() -> str:
    return _chosen or default_lang()


@functools.cache
def translations(lang: str) -> gettext.NullTranslations:
    """All ``locale/<lang>/*.po`` files as one catalogue (compiled in memory with Babel)."""
    from babel.messages.mofile import write_mo  # noqa: PLC0415 - only when a translation is first needed
    from babel.messages.pofile import read_po  # noqa: PLC0415

    merged = gettext.NullTranslations()
    for po in sorted((LOCALE_DIR / lang).glob("*.po")):
        with po.open("rb") as source:
            catalog = read_po(source, locale=lang)
        buffer = io.BytesIO()
        write_mo(buffer, catalog)
        buffer.seek(0)
        part = gettext.GNUTranslations(buffer)
        part.add_fallback(merged)
        merged = part
    return merged


def _(message: str) -> str:
    """``message`` in the current language (itself when it has no translation yet)."""
    lang = current()
    return message if lang == "en" else translations(lang).gettext(message)


def N_(message: str) -> str:  # noqa: N802 - gettext's name for it
    """Marks an English msgid kept in a table and translated with ``_()`` where it is printed."""
    return message


def ngettext(singular: str, plural: str, n: int) -> str:
    lang = current()
    if lang == "en":
        return singular if n == 1 else plural
    return translations(lang).ngettext(singular, plural, n)


@contextlib.contextmanager
def speaking(lang: str):
    """Translate into ``lang`` for the block, then put back the caller's choice (a notebook's, or none)."""
    chosen = _chosen  # None means "the default", which current() cannot tell apart
    set_language(lang)
    try:
        yield
    finally:
        set_language(chosen)
