"""GET /health (the guide's 健康检查): 200 only when the app's role gets in and the schema is at head."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request

import pytest

from scryer_runbook import project, urls
from src.backend.app import health
from src.backend.app.main import App
from tests.startup_env import owner_and_app

HEAD = "004_index_tasks_created_at"


def get_health(app_url: str) -> tuple[int, dict, str]:
    """(status, report, raw body) from a real app server on a free port, connected as ``app_url``."""
    app = App(("127.0.0.1", 0), urls.parse(app_url), health.script_heads())
    thread = threading.Thread(target=app.serve_forever)
    thread.start()
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{app.server_port}/health", timeout=10) as response:
            status, body = response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        status, body = error.code, error.read().decode()
    finally:
        app.shutdown()
        thread.join()
        app.server_close()
    return status, json.loads(body), body


@pytest.fixture
def roles(scratch):
    return owner_and_app(scratch)


def test_healthy_at_head(roles):
    owner, app = roles
    project.alembic("upgrade", "head", url=owner, check=True)
    status, report, _ = get_health(app)
    assert (status, report) == (200, {"database": "ok", "schema": f"at head {HEAD}", "app": "ok"})


@pytest.mark.parametrize(
    "target, schema",
    [
        (None, f"not migrated (no alembic_version row), head is {HEAD}"),
        ("002_add_users_table", f"not at head: at 002_add_users_table, head is {HEAD}"),
    ],
    ids=["not-migrated", "behind-head"],
)
def test_unhealthy_behind_head(roles, target, schema):
    owner, app = roles
    if target:
        project.alembic("upgrade", target, url=owner, check=True)
    status, report, _ = get_health(app)
    assert (status, report) == (503, {"database": "ok", "schema": schema, "app": "ok"})


@pytest.mark.parametrize(
    "change, reason",
    [
        (
            {"host": "127.0.0.1", "port": 1},
            'connection to server at "127.0.0.1", port 1 failed: Connection refused',
        ),
        ({"password": "wrong-s3cr3t-pw"}, 'FATAL:  password authentication failed for user "{user}"'),
    ],
    ids=["unreachable", "wrong-password"],
)
def test_unhealthy_when_the_database_is_out_of_reach(roles, change, reason):
    """The report carries libpq's own line: the app is Scryer's and needs nothing of the runbook tool."""
    url = urls.parse(roles[1]).set(**change)
    status, report, body = get_health(url.render_as_string(hide_password=False))
    assert (status, report["schema"], report["app"]) == (503, "unknown", "ok")
    assert reason.format(user=url.username) in report["database"]
    assert "\n" not in report["database"]
    assert url.password not in body
