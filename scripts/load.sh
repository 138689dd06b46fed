#!/usr/bin/env bash
# A bounded load test on loopback: starts a release `userapi serve` on a
# temporary SQLite file with the example sites, creates one account, and runs
# wrk (Debian package `wrk`) for 10 s per endpoint. Prints wrk's summaries.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v wrk >/dev/null || { echo "install wrk first (apt-get install wrk)" >&2; exit 1; }
cargo build --release --bin userapi
BIN=target/release/userapi
WORK=$(mktemp -d)
export USERAPI_DATABASE_URL="sqlite://$WORK/load.db" USERAPI_SITES_DIR=site-config USERAPI_LOG=json RUST_LOG=warn
$BIN users create --site learn --username loadtest --email loadtest@example.com --name 'Load Test' >/dev/null
TOKEN=$($BIN tokens issue --site learn --username loadtest)
$BIN serve --bind 127.0.0.1:0 > "$WORK/out" 2> "$WORK/err" &
PID=$!
trap 'kill $PID 2>/dev/null; rm -rf "$WORK"' EXIT
for _ in $(seq 1 50); do grep -q listening "$WORK/out" && break; sleep 0.1; done
BASE=$(sed -n 's/^listening on //p' "$WORK/out")
for path in /api/user/v1/me /api/user/v1/accounts/loadtest /api/user/v1/preferences/loadtest; do
  echo "== GET $path"
  wrk -t2 -c32 -d10s -H "Authorization: JWT $TOKEN" -H "Host: learn.localhost" "$BASE$path" | sed -n '1,/Transfer/p'
done
