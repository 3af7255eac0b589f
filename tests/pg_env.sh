#!/usr/bin/env bash
# Prints shell `export` lines for the test suite's PostgreSQL server: PARINDEX_TEST_PG_URL is set when a server
# is already given, or when this machine's cluster can be started (pg_ctlcluster, as root or postgres).
# Where none can be had it prints a loud warning instead, and the PostgreSQL tests are skipped.
set -u
if [ -n "${PARINDEX_TEST_PG_URL:-}" ]; then
  echo "export PARINDEX_TEST_PG_URL='${PARINDEX_TEST_PG_URL}'"; exit 0
fi
ver=$(ls /etc/postgresql 2>/dev/null | sort -n | tail -1)
if [ -n "$ver" ] && command -v pg_ctlcluster >/dev/null 2>&1; then
  pg_ctlcluster "$ver" main start >/dev/null 2>&1 || true
  for _ in $(seq 1 20); do
    su postgres -c "psql -qtAc 'select 1'" >/dev/null 2>&1 && break
    sleep 0.5
  done
  if su postgres -c "psql -qtAc 'select 1'" >/dev/null 2>&1; then
    su postgres -c "psql -qtAc \"SELECT 1 FROM pg_roles WHERE rolname='parindex'\"" | grep -q 1 ||
      su postgres -c "psql -qc \"CREATE ROLE parindex LOGIN CREATEDB CREATEROLE PASSWORD 'parindex'\"" >&2
    # CREATEROLE: the least-privilege test creates the pipeline's own role (tests/test_store.py)
    su postgres -c "psql -qtAc \"SELECT rolcreaterole FROM pg_roles WHERE rolname='parindex'\"" | grep -q t ||
      su postgres -c "psql -qc \"ALTER ROLE parindex CREATEROLE\"" >&2
    su postgres -c "psql -qtAc \"SELECT 1 FROM pg_database WHERE datname='parindex'\"" | grep -q 1 ||
      su postgres -c "createdb -O parindex parindex" >&2
    port=$(pg_lsclusters -h 2>/dev/null | awk -v v="$ver" '$1==v && $2=="main" {print $3}')
    echo "export PARINDEX_TEST_PG_URL='postgresql+psycopg://parindex:parindex@127.0.0.1:${port:-5432}/parindex'"
    exit 0
  fi
fi
echo "echo '*** WARNING: no PostgreSQL server could be started: the PostgreSQL store tests will be SKIPPED ***' >&2"
