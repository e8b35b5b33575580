#!/usr/bin/env bash
# Least-privilege roles for Scryer. The postgres image runs this once, on an empty data volume
# (docker-compose.yml mounts docker/initdb/ into /docker-entrypoint-initdb.d/); passwords come from .env.
#   scryer      owns the database and every schema object: Alembic migrates as this role
#   scryer_app  the app: reads and writes rows of scryer's tables, nothing else (no CREATE, ALTER, DROP); it only
#               reads alembic_version (/health compares it with the app's head): only migrations move the version
set -euo pipefail
: "${SCRYER_OWNER_PASSWORD:?}" "${SCRYER_APP_PASSWORD:?}"

# \getenv keeps the passwords off psql's command line; :'name' quotes them as SQL literals.
psql -v ON_ERROR_STOP=1 --no-psqlrc --username "${POSTGRES_USER:-postgres}" --dbname postgres <<'SQL'
\getenv owner_password SCRYER_OWNER_PASSWORD
\getenv app_password SCRYER_APP_PASSWORD
CREATE ROLE scryer LOGIN PASSWORD :'owner_password';
CREATE ROLE scryer_app LOGIN PASSWORD :'app_password';

CREATE DATABASE scryer OWNER scryer;
REVOKE ALL ON DATABASE scryer FROM PUBLIC;
GRANT CONNECT ON DATABASE scryer TO scryer_app;

\connect scryer
-- PostgreSQL 15: schema public belongs to the database owner (scryer); PUBLIC may no longer create in it.
GRANT USAGE ON SCHEMA public TO scryer_app;
-- Objects that already exist (none on a new volume; the default privileges below cover the later ones).
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO scryer_app;
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO scryer_app;
-- Tables and sequences Alembic creates later. Default privileges apply only to objects created BY scryer:
-- that is why migrations must connect as scryer, not as a superuser.
ALTER DEFAULT PRIVILEGES FOR ROLE scryer IN SCHEMA public
    GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO scryer_app;
ALTER DEFAULT PRIVILEGES FOR ROLE scryer IN SCHEMA public
    GRANT USAGE, SELECT ON SEQUENCES TO scryer_app;
-- The version table, created now by its owner as Alembic would create it (Alembic keeps an existing one), so that
-- the app's rights on it can be cut to SELECT: an app that could write it could make the next deploy skip or
-- repeat revisions.
SET ROLE scryer;
CREATE TABLE alembic_version (
    version_num VARCHAR(32) NOT NULL,
    CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num)
);
RESET ROLE;
REVOKE INSERT, UPDATE, DELETE ON alembic_version FROM scryer_app;
SQL
