#!/usr/bin/env bash
# Runs every test on SQLite and PostgreSQL. Safe on a fresh machine: it starts
# PostgreSQL (and MariaDB, the Open edX LMS database the import tests read) if
# they are down and cleans the databases the tests create.
set -euo pipefail
cd "$(dirname "$0")/.."

PG_URL="${USERAPI_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432}"
export USERAPI_TEST_POSTGRES_URL="$PG_URL"

ensure_postgres() {
  if pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then return; fi
  echo "PostgreSQL is down; starting it"
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n 1)" main start
  for _ in $(seq 1 30); do
    pg_isready -q -h 127.0.0.1 -p 5432 && return
    sleep 1
  done
  echo "PostgreSQL did not come up" >&2
  exit 1
}

# The import tests (tests/api/import.rs) read an LMS schema in MariaDB.
MYSQL_URL="${USERAPI_TEST_MYSQL_URL:-mysql://root@127.0.0.1:3306}"
export USERAPI_TEST_MYSQL_URL="$MYSQL_URL"
mariadb_up() { mariadb -h127.0.0.1 -P3306 -uroot -e 'SELECT 1' >/dev/null 2>&1; }
ensure_mariadb() {
  if mariadb_up; then return; fi
  if ! command -v mariadb >/dev/null; then
    echo "installing MariaDB"
    apt-get update -q >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q mariadb-server >/dev/null
  fi
  echo "MariaDB is down; starting it"
  service mariadb start >/dev/null 2>&1 || (mysqld_safe >/dev/null 2>&1 &)
  for _ in $(seq 1 30); do
    mariadb_up && return
    sleep 1
  done
  echo "MariaDB did not come up" >&2
  exit 1
}

# Each test creates its own fresh database named userapi_test_<uuid>.
drop_test_databases() {
  psql "$PG_URL/postgres" -qAtc \
    "SELECT datname FROM pg_database WHERE datname LIKE 'userapi\_test\_%'" |
    while read -r db; do psql "$PG_URL/postgres" -qc "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" >/dev/null; done
  mariadb -h127.0.0.1 -P3306 -uroot -N -e "SHOW DATABASES LIKE 'userapi\_test\_%'" 2>/dev/null |
    while read -r db; do mariadb -h127.0.0.1 -P3306 -uroot -e "DROP DATABASE IF EXISTS \`$db\`"; done || true
}

# The browser test (tests/api/browser.rs) drives Debian's chromium through chromedriver.
ensure_chromium() {
  if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then return; fi
  echo "installing chromium and chromium-driver"
  apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium chromium-driver >/dev/null
}

# The Python and JavaScript example plugins are built by their own toolchains
# (tests/api/plugin_languages.rs): componentize-py from PyPI, componentize-js
# from npm into target/js-tools. Without them those tests say they skipped.
ensure_plugin_toolchains() {
  if ! command -v componentize-py >/dev/null; then
    echo "installing componentize-py"
    if ! command -v pip3 >/dev/null && ! python3 -m pip --version >/dev/null 2>&1; then
      apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q python3-pip >/dev/null || true
    fi
    python3 -m pip install -q componentize-py==0.25.0 2>/dev/null ||
      python3 -m pip install -q --break-system-packages componentize-py==0.25.0 ||
      echo "componentize-py could not be installed" >&2
    hash -r
  fi
  local js=target/js-tools
  if [ ! -x "$js/node_modules/.bin/componentize-js" ]; then
    echo "installing componentize-js"
    if ! command -v npm >/dev/null; then
      apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q nodejs npm >/dev/null || true
    fi
    npm install --silent --no-audit --no-fund --prefix "$js" @bytecodealliance/componentize-js@0.23 >/dev/null ||
      echo "componentize-js could not be installed" >&2
  fi
  if [ -x "$js/node_modules/.bin/componentize-js" ]; then
    COMPONENTIZE_JS="$PWD/$js/node_modules/.bin/componentize-js"
    export COMPONENTIZE_JS
  fi
}

# The plugins in plugins/ are built for WebAssembly by host/build.rs.
rustup target add wasm32-wasip2 >/dev/null 2>&1 || rustup target add wasm32-wasip2
ensure_postgres
ensure_mariadb
ensure_chromium
ensure_plugin_toolchains
drop_test_databases
trap drop_test_databases EXIT
cargo test --workspace --all-targets "$@"
