"""The Scryer app service, reduced to what the container start-up needs: GET /health (stdlib http.server only).

Run: ``python -m src.backend.app.main`` from the repository root. Listens on APP_HOST:APP_PORT (default
127.0.0.1:8080; APP_PORT=0 picks a free port, printed at start). Connects as the app's role: POSTGRES_HOST/PORT/USER/
PASSWORD/DB when POSTGRES_HOST is set (the scryer-dev container), else DATABASE_URL.
"""

from __future__ import annotations

import json
import os
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from sqlalchemy.engine import URL

from src.backend.app import health, settings


class Handler(BaseHTTPRequestHandler):
    server: App

    def do_GET(self) -> None:
        if self.path.split("?")[0] != "/health":
            self.reply(404, {"error": "not found: the only page is /health"})
            return
        healthy, report = health.check(self.server.url, self.server.heads)
        self.reply(200 if healthy else 503, report)

    def reply(self, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class App(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], url: URL, heads: tuple[str, ...]):
        super().__init__(address, Handler)
        self.url, self.heads = url, heads


def main() -> int:
    try:
        url = settings.app_url()
    except settings.SettingsError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    app = App((os.environ.get("APP_HOST", "127.0.0.1"), int(os.environ.get("APP_PORT", "8080"))), url,
              health.script_heads())
    host, port = app.server_address[:2]
    print(f"Scryer app listening on http://{host}:{port} (database {settings.shown(url)})",
          flush=True)
    app.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
