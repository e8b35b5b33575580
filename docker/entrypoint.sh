#!/usr/bin/env bash
# The scryer-dev container's start-up, as the guide's 容器启动流程 describes it:
#   1. wait for PostgreSQL (wait-for-postgres.sh: the app's role must really get in);
#   2. migrate: `alembic upgrade head` as the schema owner (DATABASE_URL), unless SKIP_MIGRATION=true;
#   3. start the app ("$@"). A failed wait or migration exits non-zero and the app is NOT started.
# Every migration log line says "migration", so `docker compose logs scryer-dev | grep -i migration` finds them.
set -euo pipefail
SKIP_MIGRATION=${SKIP_MIGRATION:-false}
here=$(dirname "$(readlink -f "$0")")

if ! "$here/wait-for-postgres.sh" "${POSTGRES_HOST:-localhost}" "${POSTGRES_PORT:-5432}"; then
  exit 1  # the script has printed "ERROR: PostgreSQL is not ready" and why
fi

if [ "${SKIP_MIGRATION,,}" = true ]; then  # any case: true, True, TRUE
  echo "migration skipped (SKIP_MIGRATION=true); run it with: docker compose exec scryer-dev alembic upgrade head"
else
  echo "migration: alembic upgrade head"
  if ! output=$(alembic upgrade head 2>&1 | tee /dev/stderr); then
    # The guide's symptom line, with the cause alembic reported last: a "FAILED: ..." line (connection problems,
    # already one line) or the exception line closing a traceback, minus its class names, e.g.
    # sqlalchemy.exc.ProgrammingError: (psycopg.errors.DuplicateTable) relation "users" already exists
    cause=$(grep -E '^(FAILED: |[A-Za-z_][A-Za-z0-9_.]*(Error|Exception): )' <<<"$output" | tail -n 1 |
            sed -E 's/^(FAILED|[A-Za-z0-9_.]+): //; s/^\([A-Za-z0-9_.]+\) //')
    echo "ERROR: [ALEMBIC] Migration failed: ${cause:-see the alembic output above}" >&2
    # Which runbook helps: the tool installed beside the app reads alembic's output (the project knows nothing of it).
    if hint=$(scryer-runbook explain <<<"$output" 2>/dev/null); then echo "migration runbook: $hint" >&2; fi
    echo "migration failed: the app is not started" >&2
    exit 1
  fi
  echo "migration done: database at head"
fi

exec "$@"
