"""`scryer-runbook`: the sandbox server, the start-up wait, the doctor and the notebook tools.

Each subcommand lives in its own module and exposes ``add_arguments(parser, command)`` and ``run(args) -> int``.
Failures we can explain print one line and exit non-zero; passwords are never printed. Every line is in the
reader's language: ``--lang`` where the command has it, else ``SCRYER_LANG``, else the locale (see i18n.py).
"""

from __future__ import annotations

import argparse
import importlib
import sys

from scryer_runbook import i18n, problems, server, urls
from scryer_runbook.i18n import N_, _

# subcommand -> (module, help); the help is an English msgid, shown translated
COMMANDS = {
    "pg": ("scryer_runbook.pg_command", N_("start, stop or show the embedded PostgreSQL sandbox server")),
    "wait": ("scryer_runbook.wait", N_("wait until PostgreSQL really accepts the app's role and database")),
    "doctor": ("scryer_runbook.doctor", N_("read-only triage of a database and an Alembic project")),
    "explain": (
        "scryer_runbook.explain",
        N_("name the runbook that answers an error text (a log line, a traceback)"),
    ),
    "lint": (
        "scryer_runbook.lint",
        N_("check Alembic revisions before they merge (squawk, Alembic-aware rules)"),
    ),
    "lab": ("scryer_runbook.notebooks", N_("open the runbooks in JupyterLab with a sandbox server ready")),
    "regenerate-notebooks": (
        "scryer_runbook.notebooks",
        N_("re-run every runbook notebook and save its outputs"),
    ),
}


def chosen_language(argv: list[str]) -> str | None:
    """``--lang`` from the command line, read before anything is printed (help included); None when absent."""
    early = argparse.ArgumentParser(add_help=False)
    early.add_argument("--lang")
    lang = early.parse_known_args(argv)[0].lang
    return lang if lang in i18n.LANGUAGES else None  # a bad value is named by the command's own parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    i18n.set_language(chosen_language(argv))
    parser = argparse.ArgumentParser(
        prog="scryer-runbook",
        description=_("the sandbox server, the start-up wait, the doctor, the linter and the notebook tools"),
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    subparsers = {
        name: commands.add_parser(name, help=_(help_text), description=_(help_text))
        for name, (_module, help_text) in COMMANDS.items()
    }
    # Import only the chosen command's module: start-up stays fast and one command's deps don't burden the rest.
    chosen = next((arg for arg in argv if not arg.startswith("-")), None)
    module = None
    if chosen in COMMANDS:
        module = importlib.import_module(COMMANDS[chosen][0])
        module.add_arguments(subparsers[chosen], chosen)
    args = parser.parse_args(argv)
    try:
        return module.run(args)
    except (urls.BadURL, problems.ProblemError) as error:
        print(
            _("error: {message}").format(message=problems.explain(error).line(getattr(args, "lang", None))),
            file=sys.stderr,
        )
        return 2
    except server.ServerError as error:
        print(_("error: {message}").format(message=urls.mask_text(str(error))), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
