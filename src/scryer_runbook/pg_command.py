"""`scryer-runbook pg start|stop|url|status`: the sandbox server for people running notebooks by hand."""

from __future__ import annotations

from scryer_runbook import server


def add_arguments(parser, command: str) -> None:
    parser.add_argument("action", choices=["start", "stop", "url", "status"])


def run(args) -> int:
    if args.action == "stop":
        print("stopped" if server.stop_shared_server() else "not running")
        return 0
    srv = server.shared_server(start=args.action == "start")
    if srv is None:
        print("not running (start it with: scryer-runbook pg start)")
        return 1
    if args.action == "url":
        print(srv.url)  # the sandbox superuser has no password: loopback trust in a private data directory
    else:
        print(f"PostgreSQL sandbox running at {srv.url}\n"
              f"  use it:  export DATABASE_URL=$(scryer-runbook pg url)\n  stop it: scryer-runbook pg stop")
    return 0
