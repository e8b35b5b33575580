"""`scryer-runbook pg start|stop|url|status`: the sandbox server for people running notebooks by hand."""

from __future__ import annotations

from scryer_runbook import server
from scryer_runbook.i18n import _


def add_arguments(parser, command: str) -> None:
    parser.add_argument(
        "action",
        choices=["start", "stop", "url", "status"],
        help=_("start or stop the sandbox server, print its URL, or show whether it runs"),
    )


def run(args) -> int:
    if args.action == "stop":
        print(_("stopped") if server.stop_shared_server() else _("not running"))
        return 0
    srv = server.shared_server(start=args.action == "start")
    if srv is None:
        print(_("not running (start it with: scryer-runbook pg start)"))
        return 1
    if args.action == "url":
        print(srv.url)  # the sandbox superuser has no password: loopback trust in a private data directory
    else:
        print(
            _(
                "PostgreSQL sandbox running at {url}\n"
                "  use it:  export DATABASE_URL=$(scryer-runbook pg url)\n"
                "  stop it: scryer-runbook pg stop"
            ).format(url=srv.url)
        )
    return 0
