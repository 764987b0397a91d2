#!/usr/bin/env bash
# Runs once, when the PostgreSQL container initialises its data directory: the three login
# roles Momentum uses and its database. The group roles `momentum_app` and
# `momentum_worker` are made by the migrations; the `roles` service grants them after the
# `migrate` service has run.
set -euo pipefail
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
  -v owner_password="$MOMENTUM_OWNER_PASSWORD" \
  -v api_password="$MOMENTUM_API_PASSWORD" \
  -v jobs_password="$MOMENTUM_JOBS_PASSWORD" <<'SQL'
-- Owns the schema and runs migrations.
CREATE ROLE momentum_owner LOGIN PASSWORD :'owner_password' BYPASSRLS CREATEROLE;
-- What the API servers connect as (a member of momentum_app).
CREATE ROLE momentum_api LOGIN PASSWORD :'api_password';
-- What the webhook worker and the purges connect as (a member of momentum_worker).
CREATE ROLE momentum_jobs LOGIN PASSWORD :'jobs_password';
CREATE DATABASE momentum OWNER momentum_owner;
SQL
