"""`scryer-runbook`: the sandbox server, the start-up wait, the doctor and the notebook tools.

Each subcommand lives in its own module and exposes ``add_arguments(parser, command)`` and ``run(args) -> int``.
Failures we can explain print one line and exit non-zero; passwords are never printed.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from scryer_runbook import problems, urls

# subcommand -> (module, help)
COMMANDS = {
    "pg": ("scryer_runbook.pg_command", "start, stop or show the embedded PostgreSQL sandbox server"),
    "wait": ("scryer_runbook.wait", "wait until PostgreSQL really accepts the app's role and database"),
    "doctor": ("scryer_runbook.doctor", "read-only triage of a database and an Alembic project"),
    "lint": ("scryer_runbook.lint", "check Alembic revisions before they merge (squawk, Alembic-aware rules)"),
    "lab": ("scryer_runbook.notebooks", "open the runbooks in JupyterLab with a sandbox server ready"),
    "regenerate-notebooks": ("scryer_runbook.notebooks", "re-run every runbook notebook and save its outputs"),
}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(prog="scryer-runbook", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    subparsers = {name: commands.add_parser(name, help=help_text, description=help_text)
                  for name, (_, help_text) in COMMANDS.items()}
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
        print(f"error: {problems.explain(error).line(getattr(args, 'lang', None))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
