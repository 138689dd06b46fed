#!/usr/bin/env bash
# Builds and runs the service with the example sites on SQLite (userapi.db).
# Extra arguments go to `userapi serve` (for example --bind 0.0.0.0:8000).
set -euo pipefail
cd "$(dirname "$0")/.."
# The plugins in plugins/ are built for WebAssembly by host/build.rs.
rustup target add wasm32-wasip2 >/dev/null 2>&1 || rustup target add wasm32-wasip2
cargo build --release --bin userapi
exec target/release/userapi serve "$@"
