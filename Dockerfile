# scryer-dev: the app, Alembic and the start-up scripts. docker-compose.yml builds it; the jupyter service builds it
# again with EXTRAS=lab.
FROM python:3.11-slim-bookworm

# pg_isready for the start-up wait; bookworm's client is PostgreSQL 15, the server's major version. Not pinned to
# a Debian version: security updates replace it and the pinned one disappears from the archive.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends postgresql-client \
    && rm -rf /var/lib/apt/lists/*

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 APP_HOST=0.0.0.0 APP_PORT=8080
WORKDIR /app

# Dependencies first, so editing the app or a migration does not reinstall them. Editable: scryer_runbook finds the
# Alembic project next to its source (/app), as the runbook notebooks expect.
ARG EXTRAS=""
COPY pyproject.toml README.md ./
COPY src/scryer_runbook ./src/scryer_runbook
RUN pip install --no-cache-dir -e ".${EXTRAS:+[$EXTRAS]}"

COPY alembic.ini ./
COPY alembic ./alembic
COPY src/backend ./src/backend
COPY docker ./docker
# The guide calls it by name: docker compose exec scryer-dev wait-for-postgres.sh postgres 5432
RUN ln -s /app/docker/wait-for-postgres.sh /usr/local/bin/wait-for-postgres.sh \
    && useradd --create-home --uid 10001 scryer
USER 10001

EXPOSE 8080
ENTRYPOINT ["/app/docker/entrypoint.sh"]
CMD ["python", "-m", "src.backend.app.main"]
