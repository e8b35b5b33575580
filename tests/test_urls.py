"""URL parsing, driver normalisation and password masking."""

import pytest

from scryer_runbook import urls


@pytest.mark.parametrize(
    "given",
    [
        "postgresql+asyncpg://scryer:p%40ss@localhost:5432/scryer",
        "postgresql://scryer:p%40ss@localhost:5432/scryer",
        "postgres://scryer:p%40ss@localhost:5432/scryer",
    ],
)
def test_every_postgres_form_runs_on_psycopg_and_keeps_escaped_passwords(given):
    parsed = urls.parse(given)
    assert parsed.drivername == "postgresql+psycopg"
    assert parsed.password == "p@ss"
    assert urls.libpq(given) == "postgresql://scryer:p%40ss@localhost:5432/scryer"


@pytest.mark.parametrize(
    "given, message",
    [
        ("not a url", "malformed DATABASE_URL"),
        ("mysql://u:pw@h/db", "unsupported driver 'mysql'"),
    ],
)
def test_bad_urls_are_named(given, message):
    with pytest.raises(urls.BadURL, match=message):
        urls.parse(given)


def test_masked_url_and_text_hide_passwords():
    url = "postgresql+asyncpg://scryer:s3cr3t-pw@db:5432/scryer"
    assert urls.masked(url) == "postgresql+asyncpg://scryer:***@db:5432/scryer"
    text = f"failed for {url}; PGPASSWORD=s3cr3t-pw password='s3cr3t-pw' POSTGRES_PASSWORD: s3cr3t-pw"
    assert "s3cr3t-pw" not in urls.mask_text(text)


def test_database_url_from_env_then_dotenv(tmp_path, monkeypatch):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    with pytest.raises(urls.BadURL, match="not set"):
        urls.database_url(tmp_path / ".env")
    (tmp_path / ".env").write_text("DATABASE_URL=postgresql://a@h/d\n")
    assert urls.database_url(tmp_path / ".env") == "postgresql://a@h/d"
    monkeypatch.setenv("DATABASE_URL", "postgresql://b@h/d")
    assert urls.database_url(tmp_path / ".env") == "postgresql://b@h/d"
