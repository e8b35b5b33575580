"""The `scryer-runbook lint` command line."""

from __future__ import annotations

import os
import sys


def add_arguments(parser, command: str) -> None:
    parser.add_argument(
        "-c",
        "--config",
        default=os.environ.get("ALEMBIC_CONFIG", "alembic.ini"),
        help="the Alembic project's alembic.ini (default: ./alembic.ini, as alembic)",
    )
    scope = parser.add_mutually_exclusive_group()
    scope.add_argument(
        "--range", metavar="A:B", help="only the revisions `alembic upgrade A:B --sql` would run"
    )
    scope.add_argument(
        "--since-ref",
        metavar="REF",
        help="only the revisions added or changed since this git ref (e.g. origin/main), committed or not",
    )
    output = parser.add_mutually_exclusive_group()
    output.add_argument("--json", action="store_const", const="json", dest="format", help="print JSON")
    output.add_argument(
        "--format",
        choices=("text", "json", "github"),
        default="text",
        help="text (default), json, or github (workflow annotations)",
    )
    parser.set_defaults(format="text")
    parser.add_argument(
        "--lang",
        choices=("zh", "en"),
        help="language of the messages and links (default: SCRYER_LANG, else LANG)",
    )


def run(args) -> int:
    from scryer_runbook.lint import lint  # noqa: PLC0415 - the package imports this module

    report = lint(args.config, revision_range=args.range, since_ref=args.since_ref, lang=args.lang)
    if args.format == "json":
        print(report.to_json())
        return report.exit_code
    if report.error:
        print(report.summary(), file=sys.stderr)
        return report.exit_code
    for line in report.lines() if args.format == "text" else report.github():
        print(line)
    print(report.summary(), file=sys.stderr)
    return report.exit_code
