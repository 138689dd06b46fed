#!/usr/bin/env bash
# The data-layer benchmark: wrk against a release `userapi serve` and, in the
# same run, against the ceiling server (host/examples/ceiling.rs: the same
# JWT check, fixed JSON, no database), on SQLite and on PostgreSQL.
#
#   scripts/bench.sh                 both backends
#   BACKENDS=sqlite scripts/bench.sh one of them
#
# Settings (environment): USERS (1000), CONNECTIONS (32), THREADS (2),
# DURATION (10s), WARMUP (3s), USERAPI_SQLITE_SYNCHRONOUS (full),
# USERAPI_CACHE_ENTRIES (20000; 0 measures the data layer without cache).
# Prints requests/s, p50 and p99 per endpoint and each userapi figure as a
# ratio of the ceiling's. "account, no cache" is GET account against a second
# instance on the same database with its account cache off: every request
# reads the rows and opens (decrypts) the sealed values, so its gap to
# "account" is what a cache miss costs. Personal values are sealed under a
# keyring made for the run (as docs/keys.md shows). Needs wrk (apt-get install wrk); PostgreSQL on
# 127.0.0.1:5432 (started if down, as scripts/test.sh does).
set -euo pipefail
cd "$(dirname "$0")/.."

USERS=${USERS:-1000}
CONNECTIONS=${CONNECTIONS:-32}
THREADS=${THREADS:-2}
DURATION=${DURATION:-10s}
WARMUP=${WARMUP:-3s}
BACKENDS=${BACKENDS:-"sqlite postgres"}
PG_URL="${USERAPI_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432}"

command -v wrk >/dev/null || { echo "install wrk first (apt-get install wrk)" >&2; exit 1; }
rustup target add wasm32-wasip2 >/dev/null 2>&1 || rustup target add wasm32-wasip2
cargo build --release --bin userapi --example ceiling --example bench_seed >&2
BIN=target/release
WORK=$(mktemp -d)
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT

mkdir -p "$WORK/sites"
k() { head -c 32 /dev/urandom | base64; }
(umask 077; cat > "$WORK/keyring.json" <<JSON
{"format": "userapi-keyring/1",
 "tenants": {"bench": {"index_key": "$(k)", "keks": [{"id": "k-bench", "key": "$(k)"}]}}}
JSON
)
export USERAPI_KEYRING="$WORK/keyring.json"
cat > "$WORK/sites/bench.json" <<'JSON'
{
  "site": "bench",
  "domains": ["bench.localhost"],
  "tenant": "bench",
  "jwt": {"issuer": "https://bench.localhost/oauth2", "audience": "bench-api",
          "secret_keys": ["bench-secret-0123456789abcdef-0123456789"]}
}
JSON

# One request per user in turn, each with its own token (wrk Lua).
cat > "$WORK/rotate.lua" <<'LUA'
local users, tokens, i = {}, {}, 0
local kind = os.getenv("BENCH_KIND")
for line in io.lines(os.getenv("BENCH_TOKENS")) do
  local name, token = line:match("^(%S+) (%S+)$")
  users[#users + 1] = name
  tokens[#tokens + 1] = token
end
function setup(thread) thread:set("offset", math.random(#users)) end
function request()
  i = i + 1
  local n = (i + (offset or 0)) % #users + 1
  local headers = {["Authorization"] = "JWT " .. tokens[n], ["Host"] = "bench.localhost"}
  if kind == "patch" then
    headers["Content-Type"] = "application/merge-patch+json"
    local body = string.format('{"bio": "Bio number %d of %s."}', i, users[n])
    return wrk.format("PATCH", "/api/user/v1/accounts/" .. users[n], headers, body)
  elseif kind == "preferences" then
    return wrk.format("GET", "/api/user/v1/preferences/" .. users[n], headers)
  end
  return wrk.format("GET", "/api/user/v1/accounts/" .. users[n], headers)
end
LUA

wait_listening() { # file → base URL
  for _ in $(seq 1 300); do
    if grep -q '^listening on ' "$1" 2>/dev/null; then sed -n 's/^listening on //p' "$1"; return; fi
    sleep 0.1
  done
  echo "server did not start: $(cat "$1" "$1.err" 2>/dev/null)" >&2
  exit 1
}

# run KIND BASE → "rps p50_ms p99_ms non2xx"
run() {
  local kind=$1 base=$2
  BENCH_KIND=$kind BENCH_TOKENS="$WORK/tokens" wrk -t"$THREADS" -c"$CONNECTIONS" -d"$WARMUP" -s "$WORK/rotate.lua" "$base" >/dev/null
  BENCH_KIND=$kind BENCH_TOKENS="$WORK/tokens" wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency \
    -s "$WORK/rotate.lua" "$base" > "$WORK/wrk.out"
  awk '
    function ms(v) { if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0; if (v ~ /s$/) return v * 1000; return v }
    /Requests\/sec/ { rps = $2 }
    $1 == "50%" { p50 = ms($2) }
    $1 == "99%" { p99 = ms($2) }
    /Non-2xx/ { bad = $NF }
    END { printf "%.0f %.2f %.2f %d\n", rps, p50, p99, bad + 0 }
  ' "$WORK/wrk.out"
}

ensure_postgres() {
  if pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then return; fi
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n 1)" main start
  for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && return; sleep 1; done
  echo "PostgreSQL did not come up" >&2; exit 1
}

printf '%-9s %-16s %-9s %10s %8s %8s %10s %9s\n' backend endpoint server 'req/s' 'p50 ms' 'p99 ms' 'non-2xx' 'x ceiling'
for backend in $BACKENDS; do
  case $backend in
    sqlite) url="sqlite://$WORK/bench.db" ;;
    postgres)
      ensure_postgres
      db="userapi_bench_$$"
      psql "$PG_URL/postgres" -qc "DROP DATABASE IF EXISTS $db" -c "DROP DATABASE IF EXISTS ${db}_keys" \
        -c "CREATE DATABASE $db" >/dev/null
      url="$PG_URL/$db"
      ;;
    *) echo "unknown backend $backend" >&2; exit 1 ;;
  esac
  USERAPI_DATABASE_URL=$url $BIN/examples/bench_seed "$WORK/sites/bench.json" "$USERS" "$WORK/tokens"
  USERAPI_DATABASE_URL=$url USERAPI_SITES_DIR="$WORK/sites" USERAPI_LOG=json \
    $BIN/userapi serve --bind 127.0.0.1:0 > "$WORK/serve.out" 2> "$WORK/serve.out.err" &
  PIDS+=($!)
  serve_pid=$!
  USERAPI_DATABASE_URL=$url USERAPI_SITES_DIR="$WORK/sites" USERAPI_LOG=json USERAPI_CACHE_ENTRIES=0 \
    $BIN/userapi serve --bind 127.0.0.1:0 > "$WORK/nocache.out" 2> "$WORK/nocache.out.err" &
  PIDS+=($!)
  nocache_pid=$!
  $BIN/examples/ceiling "$WORK/sites/bench.json" > "$WORK/ceiling.out" 2> "$WORK/ceiling.out.err" &
  PIDS+=($!)
  ceiling_pid=$!
  userapi=$(wait_listening "$WORK/serve.out")
  ceiling=$(wait_listening "$WORK/ceiling.out")
  nocache=$(wait_listening "$WORK/nocache.out")
  for kind in account account-nocache preferences patch; do
    target=$userapi request=$kind
    if [ "$kind" = account-nocache ]; then target=$nocache request=account; fi
    read -r c_rps c_p50 c_p99 c_bad <<< "$(run "$request" "$ceiling")"
    read -r u_rps u_p50 u_p99 u_bad <<< "$(run "$request" "$target")"
    ratio=$(awk -v u="$u_rps" -v c="$c_rps" 'BEGIN { printf "%.2f", (c > 0 ? u / c : 0) }')
    printf '%-9s %-16s %-9s %10s %8s %8s %10s %9s\n' "$backend" "$kind" ceiling "$c_rps" "$c_p50" "$c_p99" "$c_bad" ""
    printf '%-9s %-16s %-9s %10s %8s %8s %10s %9s\n' "$backend" "$kind" userapi "$u_rps" "$u_p50" "$u_p99" "$u_bad" "$ratio"
  done
  # Statement preparations stay flat under load (QPSG: no re-planning),
  # PATCHes are committed in groups (SQLite), and reads hit the cache.
  curl -s "$userapi/metrics" | awk -v backend="$backend" '
    $1 == "userapi_sqlite_prepares_total" { p = $2 } $1 == "userapi_sqlite_reprepares_total" { r = $2 }
    $1 == "userapi_sqlite_commits_total" { c = $2 } $1 == "userapi_sqlite_committed_writes_total" { w = $2 }
    $1 == "userapi_cache_hits_total" { h = $2 } $1 == "userapi_cache_misses_total" { m = $2 }
    END {
      printf "%-9s cache: %d hits, %d misses", backend, h, m
      if (backend == "sqlite") printf "; statements: %d prepared, %d re-prepared; %d writes in %d commits (%.1f per commit)", p, r, w, c, (c ? w / c : 0)
      printf "\n"
    }'
  kill "$serve_pid" "$nocache_pid" "$ceiling_pid" 2>/dev/null || true
  wait "$serve_pid" "$nocache_pid" "$ceiling_pid" 2>/dev/null || true
  if [ "$backend" = postgres ]; then psql "$PG_URL/postgres" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" \
      -c "DROP DATABASE IF EXISTS ${db}_keys WITH (FORCE)" >/dev/null; fi
done
