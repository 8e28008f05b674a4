-- Run once by the postgres image on an empty data folder (docker-compose.yml mounts this folder
-- at /docker-entrypoint-initdb.d), as POSTGRES_USER, the database owner that migrates.
-- Creates the role the relay serves as: it can log in and use the tables that migrations grant
-- it, but it is no superuser and has no BYPASSRLS, so row-level security keeps workspaces apart
-- (the relay refuses to start as a role that could skip it). Idempotent.
\getenv app_user TRIBAL_APP_USER
\getenv app_password TRIBAL_APP_PASSWORD
SELECT format(
    'CREATE ROLE %I LOGIN PASSWORD %L NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE NOINHERIT',
    :'app_user', :'app_password')
  WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'app_user')
\gexec
SELECT format('GRANT CONNECT, TEMPORARY ON DATABASE %I TO %I', current_database(), :'app_user')
\gexec
GRANT USAGE ON SCHEMA public TO :"app_user";
