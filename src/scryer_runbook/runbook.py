"""What every runbook notebook does the same way: pick its target, stay read-only, write only when allowed.

A notebook runs in one of two modes, chosen by its papermill parameters:

* sandbox (no target, the default, as in CI): a scratch database is created, the failure is reproduced there,
  fixed and verified; everything is dropped at the end, even when a cell fails (kernel exit).
* incident (``target_url_env`` names an environment variable holding the URL, or ``target_url`` is a URL
  without a password): nothing is reproduced; diagnosis is read-only; fixes are applied only with
  ``apply_fix=True`` and are otherwise printed as the exact commands to run.

A password never goes into a parameter: papermill stores every parameter in the output notebook, twice.
Every command of the project's own CLI runs guarded (``guard.py``): it can reach the target (or the sandbox
database it is given) and nothing else, whatever the project's env.py does. In incident mode a command that only
reads runs on a server-enforced read-only session with short lock and statement timeouts.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from functools import cached_property
from pathlib import Path

import psycopg

from scryer_runbook import diagnosis, guard, i18n, matching, problems, server, urls
from scryer_runbook.i18n import _
from scryer_runbook.project import AlembicProject, Result, copy_project

# Commands run on a real target without apply_fix, on a server-enforced read-only session (`check` would create an
# empty version table where there is none: the server refuses it, nothing is written).
GUARD_HINT = (
    "(the project's settings name another database than the target: point them at it, or list their "
    "variable in alembic.ini under [scryer_runbook] url_env)"
)
READ_ONLY_COMMANDS = {"current", "heads", "history", "show", "branches", "check"}


def target_from(slug: str, target_url: str | None, target_url_env: str | None) -> str | None:
    """The incident target's URL, from an environment variable or a password-less ``target_url``; None: sandbox."""
    if target_url and target_url_env:
        raise problems.ProblemError(
            problems.Problem("bad-parameters", _("pass target_url or target_url_env, not both"), slug)
        )
    if target_url_env:
        url = os.environ.get(target_url_env)
        if not url:
            raise problems.ProblemError(
                problems.Problem(
                    "bad-parameters",
                    _(
                        "target_url_env={name!r}: that environment variable is not set in the kernel's environment"
                    ).format(name=target_url_env),
                    slug,
                )
            )
        urls.parse(url, target_url_env)
        return url
    if target_url and urls.parse(target_url, "target_url").password is not None:
        raise problems.ProblemError(
            problems.Problem(
                "password-in-parameter",
                _(
                    "target_url carries a password, and papermill would store it in the output notebook: export "
                    'the URL and pass target_url_env="DATABASE_URL" instead (or leave the password out and use '
                    "PGPASSWORD or ~/.pgpass)"
                ),
                slug,
            )
        )
    return target_url


class Runbook:
    def __init__(
        self,
        slug: str,
        target_url: str | None = None,
        alembic_ini: str | None = None,
        apply_fix: bool = False,
        *,
        target_url_env: str | None = None,
        lang: str | None = None,
    ):
        self.slug = slug
        self.lang = i18n.set_language(lang)
        target = target_from(slug, target_url, target_url_env)
        try:
            self.project = AlembicProject.find(alembic_ini)
        except FileNotFoundError as error:
            raise problems.ProblemError(problems.Problem("bad-parameters", str(error), slug)) from None
        self.is_sandbox = target is None
        self.may_write = self.is_sandbox or bool(apply_fix)
        self._started_server = False
        self.url = urls.libpq(target) if target else self.sandbox.database(slug)

    @cached_property
    def sandbox(self):
        """Scratch databases and roles (created on first use only).

        In incident mode DATABASE_URL may well point at the broken server itself, so scratch work goes to
        SCRYER_SANDBOX_URL when set, else to the local embedded server (started here if needed, and stopped again
        by ``close()``): never to production by accident.
        """
        from scryer_runbook.sandbox import Sandbox  # noqa: PLC0415

        if self.is_sandbox:
            return Sandbox()
        if os.environ.get("SCRYER_SANDBOX_URL"):
            return Sandbox(os.environ["SCRYER_SANDBOX_URL"])
        self._started_server = server.shared_server(start=False) is None
        return Sandbox(server.shared_server().url)

    @cached_property
    def alembic_project(self):
        """The project's scripts and env.py's settings, read offline in this process with no connection allowed."""
        with guard.only([]):
            return diagnosis.load_project(self.project.ini, config=self.project.config())

    @property
    def version_table(self) -> str:
        return self.alembic_project.version_table

    def version_rows(self, url: str | None = None) -> list[str] | None:
        """What the project's version table records in the target (or ``url``), read over a read-only session."""
        with diagnosis.connect(url or self.url) as conn:
            return diagnosis.version_rows(conn, self.version_table, self.alembic_project.version_schema)

    def describe(self) -> None:
        if self.is_sandbox:
            mode = _("sandbox: a scratch database, reproduced, fixed and dropped here")
        elif self.may_write:
            mode = _("incident: read-only diagnosis; fixes WILL be applied (apply_fix=True)")
        else:
            mode = _("incident: read-only diagnosis; fixes are only printed (apply_fix=False)")
        print(
            _("target:  {target}\nproject: {project} (commands: {cli})\nmode:    {mode}").format(
                target=urls.masked(self.url), project=self.project.ini, cli=self.project.shown(), mode=mode
            )
        )

    def say(self, message: str, **values) -> None:
        """Print one line in the reader's language (``message`` is the English msgid in the catalogue)."""
        print(_(message).format(**values))

    def alembic(self, *args: str, url: str | None = None) -> Result:
        """The project's real CLI against the target (or ``url``, a sandbox database), shown as a terminal would.

        On a real target only commands that read run here, on a read-only session with short lock and statement
        timeouts, so diagnosis never queues behind a stuck migration; writes go through ``fix_alembic``."""
        on_target = url is None and not self.is_sandbox
        offline = "--sql" in args  # renders SQL: no connection is allowed at all
        if on_target and not offline and args[0] not in READ_ONLY_COMMANDS:
            raise PermissionError(f"`{self.project.shown(*args)}` writes: on a real target use fix_alembic()")
        result = diagnosis.terse(
            self.project.run(*args, url=url or self.url, read_only=on_target, allow=[] if offline else None)
        )
        if guard.GUARD_REFUSED in result.output:
            result.output += "\n" + _(GUARD_HINT)
        return result.show()

    def reproduce(self, step: Callable, *args):
        """Run a reproduce step on the sandbox only (returning what it returns); a real target is never broken."""
        if not self.is_sandbox:
            print(_("skipped: the target is a real database, nothing is reproduced there"))
            return None
        return step(*args)

    def fix_alembic(self, *commands: list[str]) -> None:
        """Apply the project's CLI commands when allowed; otherwise print them for a human to run."""
        if not self.may_write:
            print_instead(
                [self.project.shown(*command) for command in commands],
                _("in {folder}").format(folder=self.project.workdir),
            )
            return
        for command in commands:
            self._checked(command, diagnosis.terse(self.project.run(*command, url=self.url)).show())

    def _checked(self, command: list[str], result: Result) -> None:
        """Stop at the first failed step, saying why when the guard refused a connection."""
        if result.returncode:
            why = _(GUARD_HINT) if guard.GUARD_REFUSED in result.output else ""
            raise RuntimeError(
                _("{command} failed; stopped before the next step").format(
                    command=self.project.shown(*command)
                )
                + (f" {why}" if why else "")
            )

    def fix_sql(self, statements: list, url: str | None = None, autocommit: bool = False) -> None:
        """Run SQL statements in one transaction when allowed; otherwise print them.

        ``autocommit=True`` runs each statement on its own, for those that refuse a transaction block
        (``DROP INDEX CONCURRENTLY``, ``VACUUM``)."""
        url = url or self.url
        with psycopg.connect(url, autocommit=autocommit) as conn:
            rendered = [
                statement if isinstance(statement, str) else statement.as_string(conn)
                for statement in statements
            ]
            if not self.may_write:
                print_instead([f"{line};" for line in rendered], f"psql {urls.masked(url)!r}")
                return
            for line in rendered:
                print(f"{line};")
                conn.execute(line)

    def use_project_copy(self) -> AlembicProject:
        """Sandbox only: work on a throwaway copy of the Scryer project (removed by ``close()``), for scenarios that
        add revisions or edit models; the repository's own files are never touched."""
        assert self.is_sandbox, "a real project is never copied: incident mode works on the project itself"
        self._copy = tempfile.TemporaryDirectory(prefix="scryer-project-")
        self.project = AlembicProject.find(copy_project(Path(self._copy.name) / "scryer") / "alembic.ini")
        return self.project

    def scripts(self):
        """The project's revision scripts as they are on disk now (read afresh: a fix may have added one)."""
        from alembic.script import ScriptDirectory  # noqa: PLC0415

        return ScriptDirectory.from_config(self.project.config())

    def fix_project(self, command: list[str]) -> Path | None:
        """Write a new revision into the project (``merge``, ``revision``) when allowed, and show it.

        Only the sandbox is then upgraded. On a real target the file is written and shown, never applied: the
        target would record a revision the deployed code lacks, and the next container start would fail with
        ``Can't locate revision``. The deploy applies it, with code that has the file."""
        if not self.may_write:
            print_instead(
                [self.project.shown(*command)], _("in {folder}").format(folder=self.project.workdir)
            )
            return None
        before = {revision.path for revision in self.scripts().walk_revisions()}
        self._checked(
            command,
            diagnosis.terse(self.project.run(*command, url=self.url, read_only=not self.is_sandbox)).show(),
        )
        (written,) = [
            revision.path for revision in self.scripts().walk_revisions() if revision.path not in before
        ]
        print(f"--- {Path(written).name}\n" + Path(written).read_text())
        if not self.is_sandbox:
            self.say(
                "written into the project, NOT applied to the target: commit it, review it and deploy it; the "
                "deploy's `upgrade head` applies it, with code that has the file"
            )
        return Path(written)

    def matching_revision(self, url: str | None = None) -> matching.Match:
        """The newest revision whose schema the database at ``url`` (default: the target) has, found by replaying
        the project's offline SQL in a sandbox database (``matching.py``); the target is only read."""
        return matching.matching_revision(
            url or self.url,
            self.sandbox,
            self.project,
            self.version_table,
            self.alembic_project.version_schema,
        )

    def close(self) -> None:
        """Drop the scratch databases and roles (also at kernel exit if a cell failed before this); stop the
        sandbox server if this runbook started it."""
        if getattr(self, "_copy", None):
            self._copy.cleanup()
            print(_("project copy removed"))
        if "sandbox" in self.__dict__:
            self.sandbox.close()
            print(_("sandbox cleaned up"))
        if self._started_server:
            server.stop_shared_server()
            print(_("the sandbox server this runbook started is stopped"))


def print_instead(lines: list[str], where: str = "") -> None:
    """What a fix would have run, for a human to run: incident mode without apply_fix=True writes nothing."""
    print(
        _("NOT applied: apply_fix=False and the target is not a sandbox. To apply, run")
        + (f" ({where})" if where else "")
        + ":"
    )
    print("\n".join(f"    {line}" for line in lines))
