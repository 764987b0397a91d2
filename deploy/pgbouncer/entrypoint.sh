#!/bin/sh
# PgBouncer authenticates clients against a userlist and logs in to PostgreSQL with the
# same password (SCRAM); the passwords come from the environment, never from the image.
set -eu
umask 077
mkdir -p /run/pgbouncer
printf '"momentum_api" "%s"\n"momentum_jobs" "%s"\n' \
  "$MOMENTUM_API_PASSWORD" "$MOMENTUM_JOBS_PASSWORD" > /run/pgbouncer/userlist.txt
exec pgbouncer /etc/pgbouncer/pgbouncer.ini
