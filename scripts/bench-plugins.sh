#!/usr/bin/env bash
# What a visibility policy plugin adds to GET another's account: one server,
# two sites of one tenant (plain, and plugged with the example policy), and
# wrk (one connection, 3 s) alternating between them ROUNDS times so both see
# the same machine. Prints each side's median µs per request and the gap.
# Quieter than `cargo bench --bench http_plugins`, which runs one side after
# the other. Needs wrk (apt-get install wrk). BIN=path compares another build.
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS="${ROUNDS:-8}"
PORT="${PORT:-8111}"
if [ -z "${BIN:-}" ]; then
  cargo build --release -q -p userapi --bin userapi
  BIN="$PWD/target/release/userapi"
fi
PLUGINS="$PWD/target/plugins/wasm32-wasip2/release"
WORK="$(mktemp -d)"
mkdir -p "$WORK/sites"
JWT='"jwt": {"issuer": "https://bench/oauth2", "secret_keys": ["bench-secret-0123456789abcdef"]}'
echo "{\"site\": \"plain\", \"domains\": [\"plain.bench\"], \"tenant\": \"bench\", $JWT}" > "$WORK/sites/plain.json"
echo "{\"site\": \"plugged\", \"domains\": [\"plugged.bench\"], \"tenant\": \"bench\", $JWT,
  \"plugins\": {\"visibility_policy\": {\"path\": \"$PLUGINS/visibility_policy.wasm\",
                                         \"config\": {\"same_org_fields\": [\"name\"]}}}}" > "$WORK/sites/plugged.json"
export USERAPI_DATABASE_URL="sqlite://$WORK/bench.db" USERAPI_SITES_DIR="$WORK/sites" USERAPI_LOG=json RUST_LOG=error
for u in owner reader; do
  "$BIN" users create --site plain --username $u --email $u@example.com >/dev/null
  "$BIN" orgs add --site plain --username $u --org MITx >/dev/null
done
TOKEN=$("$BIN" tokens issue --site plain --username reader)
OWNER=$("$BIN" tokens issue --site plain --username owner)
USERAPI_BIND="127.0.0.1:$PORT" "$BIN" serve >/dev/null 2>&1 &
SERVER=$!
trap 'kill $SERVER; rm -rf "$WORK"' EXIT
sleep 1
URL="http://127.0.0.1:$PORT/api/user/v1/accounts/owner"
curl -sf -X PATCH -H "host: plain.bench" -H "authorization: JWT $OWNER" -H "content-type: application/merge-patch+json" \
  -d '{"year_of_birth": 1990, "account_privacy": "custom"}' "$URL" >/dev/null
for _ in $(seq 1 "$ROUNDS"); do
  for host in plain.bench plugged.bench; do
    rps=$(wrk -t1 -c1 -d3s -H "host: $host" -H "authorization: JWT $TOKEN" "$URL" | awk '/Requests\/sec/ {print $2}')
    echo "$host $(echo "1000000 / $rps" | bc)"
  done
done | awk '
  { v[$1] = v[$1] " " $2 }
  END {
    for (h in v) {
      n = split(v[h], a, " "); asort(a)
      m[h] = (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
      printf "%-14s median %6.0f µs per request (%s )\n", h, m[h], v[h]
    }
    printf "gap: %.0f µs\n", m["plugged.bench"] - m["plain.bench"]
  }'
