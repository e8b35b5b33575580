"""`scryer-runbook explain`: which runbook answers an error, from its text (a log line, a pasted traceback).

The container's entrypoint pipes a failed `alembic upgrade head` through it, so the start-up log names the runbook
while the project's own env.py knows nothing of this tool. Exit 0 and one line when a runbook answers; 1 when none.
"""

from __future__ import annotations

import os
import sys

from scryer_runbook import i18n, problems, urls
from scryer_runbook.i18n import _


def add_arguments(parser, command: str) -> None:
    parser.add_argument("text", nargs="?", help=_("the error text (default: read standard input)"))
    parser.add_argument(
        "--url", help=_("the URL the failed connection used, to say where it went (default: $DATABASE_URL)")
    )
    parser.add_argument(
        "--lang",
        choices=i18n.LANGUAGES,
        help=_("language of the output (default: $SCRYER_LANG, else the locale)"),
    )


def run(args) -> int:
    text = args.text if args.text is not None else sys.stdin.read()
    given = args.url or os.environ.get("DATABASE_URL")
    try:
        url = urls.parse(given, "--url" if args.url else "DATABASE_URL") if given else None
    except urls.BadURL:
        url = None  # where it went is a nicety: the runbook is the answer
    problem = problems.explain_text(text, url)
    if problem is None:
        print(_("no runbook answers this error"), file=sys.stderr)
        return 1
    print(problem.line(args.lang))
    return 0
