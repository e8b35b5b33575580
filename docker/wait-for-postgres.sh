#!/usr/bin/env bash
# Usage: wait-for-postgres.sh HOST PORT
#
# Step 1 of the container start-up (the guide's 容器启动流程): wait until PostgreSQL is ready, at most WAIT_TIMEOUT
# seconds (default 60), trying every WAIT_INTERVAL seconds (default 2).
#   1. pg_isready until the server answers over TCP. It ignores the user and the database, so it is only a cheap
#      first gate (field notes: pg_isready -U nosuchuser -d nosuchdb still says "accepting connections").
#   2. `scryer-runbook wait`: a real login as the app's role into its database, retried while the server is still
#      starting up, within the same deadline.
# On give-up it prints "ERROR: PostgreSQL is not ready" and one line saying why, and exits non-zero.
set -euo pipefail

host=${1:?usage: wait-for-postgres.sh HOST PORT}
port=${2:-5432}
timeout=${WAIT_TIMEOUT:-60}
interval=${WAIT_INTERVAL:-2}

if ! [[ $timeout =~ ^[0-9]+$ && $interval =~ ^[0-9]+$ ]]; then
  echo "ERROR: WAIT_TIMEOUT and WAIT_INTERVAL must be whole seconds" >&2
  exit 2
fi

find_pg_isready() {
  local dir debian=(/usr/lib/postgresql/*/bin/pg_isready)  # sorted by name: the newest major version last
  if command -v pg_isready; then return; fi
  if dir=$(pg_config --bindir 2>/dev/null) && [ -x "$dir/pg_isready" ]; then echo "$dir/pg_isready"; return; fi
  if [ -x "${debian[-1]}" ]; then echo "${debian[-1]}"; return; fi
  return 1
}

deadline=$((SECONDS + timeout))
echo "waiting for PostgreSQL at $host:$port (up to ${timeout}s)"
if pg_isready=$(find_pg_isready); then
  # Exit codes: 0 accepting, 1 rejecting (starting up), 2 no response, 3 no attempt (bad parameters).
  until "$pg_isready" -q -h "$host" -p "$port" -t "$(( deadline - SECONDS > 1 ? deadline - SECONDS : 1 ))"; do
    if (( SECONDS + interval > deadline )); then break; fi
    sleep "$interval"
  done
else
  echo "pg_isready not found (install postgresql-client): checking with a real connection only"
fi

# Whatever pg_isready found, the real connection decides, and its error names the reason.
remaining=$(( deadline > SECONDS ? deadline - SECONDS : 0 ))
exec scryer-runbook wait --host "$host" --port "$port" --timeout "$remaining" --interval "$interval"
