#!/usr/bin/env bash
# CI: the Parquet export read by a real DuckDB. Installs DuckDB's npm
# package (@duckdb/node-api, with its prebuilt binary from the npm registry)
# into .ci/tools (gitignored; test tooling only, never part of the binary),
# then runs the tests that query the exported files with it and compare
# with the JSON output. Needs node and npm.
#
# usage: .ci/parquet-test.sh         (from anywhere in the checkout)
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"
tools=.ci/tools
version=1.5.6-r.1
if [ ! -d "$tools/node_modules/@duckdb/node-api" ]; then
  mkdir -p "$tools"
  (cd "$tools" && npm install --no-audit --no-fund --no-save --loglevel=error "@duckdb/node-api@$version" >/dev/null)
fi
HTTPLIFE_DUCKDB_REQUIRED=1 go test -count=1 -run DuckDB -v ./internal/parquet/ | grep -E "^(---|ok|FAIL|\s+duckdb_test)"
