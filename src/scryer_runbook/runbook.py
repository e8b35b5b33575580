"""What every runbook notebook does the same way: pick its target, stay read-only, write only when allowed.

A notebook runs in one of two modes, chosen by its papermill parameters:

* sandbox (``target_url=None``, the default, as in CI): a scratch database is created, the failure is reproduced
  there, fixed and verified; everything is dropped at the end, even when a cell fails (kernel exit).
* incident (``target_url_env`` names an environment variable holding the URL, or ``target_url`` is a URL
  without a password): nothing is reproduced; diagnosis is read-only; fixes are applied only with
  ``apply_fix=True`` and are otherwise printed as the exact commands to run.

A password never goes into a parameter: papermill stores every parameter in the output notebook, twice.
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Callable
from functools import cached_property
from pathlib import Path

import psycopg

from scryer_runbook import i18n, problems, server, urls
from scryer_runbook import project as projects
from scryer_runbook.i18n import _
from scryer_runbook.sandbox import Sandbox


def target_from(slug: str, target_url: str | None, target_url_env: str | None) -> str | None:
    """The incident target's URL, from an environment variable or a password-less ``target_url``; None: sandbox."""
    if target_url and target_url_env:
        raise problems.ProblemError(problems.Problem(
            "bad-parameters", _("pass target_url or target_url_env, not both"), slug))
    if target_url_env:
        url = os.environ.get(target_url_env)
        if not url:
            raise problems.ProblemError(problems.Problem("bad-parameters", _(
                "target_url_env={name!r}: that environment variable is not set in the kernel's environment"
            ).format(name=target_url_env), slug))
        urls.parse(url, target_url_env)
        return url
    if target_url and urls.parse(target_url, "target_url").password is not None:
        raise problems.ProblemError(problems.Problem("password-in-parameter", _(
            "target_url carries a password, and papermill would store it in the output notebook: export the URL "
            "and pass target_url_env=\"DATABASE_URL\" instead (or leave the password out and use PGPASSWORD or "
            "~/.pgpass)"), slug))
    return target_url


class Runbook:
    def __init__(self, slug: str, target_url: str | None = None, alembic_ini: str | None = None,
                 apply_fix: bool = False, *, target_url_env: str | None = None, lang: str | None = None):
        self.slug = slug
        self.lang = i18n.set_language(lang)
        target = target_from(slug, target_url, target_url_env)
        self.is_sandbox = target is None
        self.may_write = self.is_sandbox or bool(apply_fix)
        self.project = Path(alembic_ini).resolve().parent if alembic_ini else projects.REPO_ROOT
        self.url = urls.libpq(target) if target else self.sandbox.database(slug)

    @cached_property
    def sandbox(self) -> Sandbox:
        """Scratch databases and roles (created on first use only).

        In incident mode DATABASE_URL may well point at the broken server itself, so scratch work goes to
        SCRYER_SANDBOX_URL when set, else to the local embedded server: never to production by accident.
        """
        if self.is_sandbox:
            return Sandbox()
        return Sandbox(os.environ.get("SCRYER_SANDBOX_URL") or server.shared_server().url)

    def describe(self) -> None:
        mode = ("sandbox: a scratch database, reproduced, fixed and dropped here" if self.is_sandbox else
                "incident: read-only diagnosis; fixes " + ("WILL be applied (apply_fix=True)" if self.may_write
                                                           else "are only printed (apply_fix=False)"))
        project = ("this repository's alembic.ini" if self.project == projects.REPO_ROOT
                   else str(self.project / "alembic.ini"))
        print(f"target:  {urls.masked(self.url)}\nproject: {project}\nmode:    {mode}")

    def say(self, message: str, **values) -> None:
        """Print one line in the reader's language (``message`` is the English msgid in the catalogue)."""
        print(_(message).format(**values))

    def alembic(self, *args: str, url: str | None = None, project: Path | None = None) -> projects.Result:
        """Run the real `alembic` CLI against the target (or ``url``) and show it as a terminal would."""
        return projects.alembic(*args, url=url or self.url, project=project or self.project).show()

    def reproduce(self, step: Callable, *args):
        """Run a reproduce step on the sandbox only (returning what it returns); a real target is never broken."""
        if not self.is_sandbox:
            print("skipped: target_url points at a real database, nothing is reproduced there")
            return None
        return step(*args)

    def fix_alembic(self, *commands: list[str]) -> None:
        """Apply alembic commands when allowed; otherwise print them for a human to run."""
        if not self.may_write:
            print_instead([shlex.join(["alembic", *command]) for command in commands])
            return
        for command in commands:
            result = self.alembic(*command)
            if result.returncode:
                raise RuntimeError(f"{shlex.join(['alembic', *command])} failed; stopped before the next step")

    def fix_sql(self, statements: list, url: str | None = None, autocommit: bool = False) -> None:
        """Run SQL statements in one transaction when allowed; otherwise print them.

        ``autocommit=True`` runs each statement on its own, for those that refuse a transaction block
        (``DROP INDEX CONCURRENTLY``, ``VACUUM``)."""
        url = url or self.url
        with psycopg.connect(url, autocommit=autocommit) as conn:
            rendered = [statement if isinstance(statement, str) else statement.as_string(conn)
                        for statement in statements]
            if not self.may_write:
                print_instead([f"{line};" for line in rendered], f"psql {urls.masked(url)!r}")
                return
            for line in rendered:
                print(f"{line};")
                conn.execute(line)

    def close(self) -> None:
        """Drop the scratch databases and roles (also runs at kernel exit if a cell failed before this)."""
        if "sandbox" in self.__dict__:
            self.sandbox.close()
            print("sandbox cleaned up")


def print_instead(lines: list[str], where: str = "") -> None:
    """What a fix would have run, for a human to run: incident mode without apply_fix=True writes nothing."""
    print(_("NOT applied: apply_fix=False and the target is not a sandbox. To apply, run")
          + (f" ({where})" if where else "") + ":")
    print("\n".join(f"    {line}" for line in lines))
