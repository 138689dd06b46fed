#!/usr/bin/env bash
# Benchmarks `userapi import openedx`: generates an LMS database in MariaDB
# (each learner with a profile and 5 preferences), imports it into a fresh
# SQLite file, and prints the rate and the peak memory. Run at two sizes to
# see memory stay flat: LEARNERS=10000 and LEARNERS=100000 (the default runs both).
set -euo pipefail
cd "$(dirname "$0")/.."

SIZES="${LEARNERS:-10000 100000}"
MYSQL=(mariadb -h127.0.0.1 -P3306 -uroot)
DB=userapi_bench_lms
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"; "${MYSQL[@]}" -e "DROP DATABASE IF EXISTS $DB"' EXIT

cargo build --release -q -p userapi --bin userapi
BIN=target/release/userapi
mkdir -p "$WORK/sites"
cat > "$WORK/sites/bench.json" <<'JSON'
{"site": "bench", "domains": ["bench.test"], "tenant": "bench",
 "jwt": {"issuer": "https://bench.test/oauth2", "audience": "bench-api", "secret_keys": ["bench-secret-0123456789abcdef"]}}
JSON

for n in $SIZES; do
  "${MYSQL[@]}" -e "DROP DATABASE IF EXISTS $DB; CREATE DATABASE $DB CHARACTER SET utf8mb4"
  "${MYSQL[@]}" "$DB" < tests/api/fixtures/openedx-lms.sql
  "${MYSQL[@]}" "$DB" -e "
    INSERT INTO auth_user (id, password, last_login, is_superuser, username, first_name, last_name, email, is_staff, is_active, date_joined)
      SELECT seq, 'pbkdf2_sha256\$260000\$abcdefghijklmnop\$mTQfWm2AopoGNEmDdmTgfFQPdAUvQXct9WhnNVSaE/0=', NOW(6), 0,
             CONCAT('learner', seq), 'First', 'Last', CONCAT('learner', seq, '@example.com'), 0, 1, NOW(6)
      FROM seq_1_to_$n;
    INSERT INTO auth_userprofile (id, name, meta, courseware, language, location, year_of_birth, gender,
                                  level_of_education, mailing_address, city, country, state, goals, bio, phone_number, user_id)
      SELECT seq, CONCAT('Learner ', seq), '{}', 'course.xml', 'English', '', 1990 + seq % 20, 'f', 'b', NULL, 'Paris', 'FR',
             NULL, 'Learn', 'A bio of a learner.', NULL, seq
      FROM seq_1_to_$n;
    INSERT INTO user_api_userpreference (user_id, \`key\`, value)
      SELECT u.seq, k.name, 'value' FROM seq_1_to_$n u
      CROSS JOIN (SELECT 'pref-lang' AS name UNION ALL SELECT 'time_zone' UNION ALL SELECT 'account_privacy'
                  UNION ALL SELECT 'dark-mode' UNION ALL SELECT 'visibility.bio') k;"
  rm -f "$WORK/userapi.db"*
  export USERAPI_DATABASE_URL="sqlite://$WORK/userapi.db" USERAPI_SITES_DIR="$WORK/sites" USERAPI_LOG=json RUST_LOG=warn
  "$BIN" migrate >/dev/null
  /usr/bin/time -f "%e %M" -o "$WORK/time" "$BIN" import openedx --site bench \
    --from "mysql://root@127.0.0.1:3306/$DB" 2> "$WORK/report" || { cat "$WORK/report"; exit 1; }
  read -r seconds rss_kb < "$WORK/time"
  imported=$(awk '$1 == "auth_user" {print $3}' "$WORK/report")
  printf '%7d learners: %6.1f s, %7.0f learners/s, peak RSS %5.1f MiB (imported %s)\n' \
    "$n" "$seconds" "$(echo "$n / $seconds" | bc -l)" "$(echo "$rss_kb / 1024" | bc -l)" "$imported"
done
