"""Which rules are off: per project in pyproject.toml or alembic.ini, as the tools people know do it.

    # pyproject.toml                          # alembic.ini
    [tool.scryer-runbook.lint]                [scryer-runbook.lint]
    disable = ["rename"]                      disable = rename, ban-drop-column
    enable = ["prefer-identity"]              enable = prefer-identity

``enable`` turns on one of the squawk rules this linter switches off by default (squawk.EXCLUDED).
Per revision: a comment ``# scryer-lint: disable=<rule> reason: <why>`` (see source.py).
"""

from __future__ import annotations

import configparser
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

INI_SECTION = "scryer-runbook.lint"


@dataclass
class Settings:
    disable: set[str] = field(default_factory=set)
    enable: set[str] = field(default_factory=set)
    sources: list[str] = field(default_factory=list)  # where they came from, for messages


class BadSettings(Exception):
    pass


def load(ini: Path) -> Settings:
    """Settings from the project's pyproject.toml (next to alembic.ini) and alembic.ini itself, merged."""
    settings = Settings()
    pyproject = ini.parent / "pyproject.toml"
    if pyproject.is_file():
        try:
            table = tomllib.loads(pyproject.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as error:
            raise BadSettings(f"{pyproject}: {error}") from None
        table = table.get("tool", {}).get("scryer-runbook", {}).get("lint", {})
        for key in ("disable", "enable"):
            value = table.get(key, [])
            if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
                raise BadSettings(
                    f"{pyproject}: [tool.scryer-runbook.lint] {key} must be a list of rule names"
                )
            getattr(settings, key).update(value)
        if table:
            settings.sources.append(f"{pyproject.name} [tool.scryer-runbook.lint]")
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(ini, encoding="utf-8")
    if parser.has_section(INI_SECTION):
        for key in ("disable", "enable"):
            names = re.split(r"[\s,]+", parser.get(INI_SECTION, key, fallback=""))
            getattr(settings, key).update(name for name in names if name)
        settings.sources.append(f"{ini.name} [{INI_SECTION}]")
    return settings
