#!/usr/bin/env bash
# Builds js_validator.wasm from app.js with componentize-js (from npm:
# `npm install @bytecodealliance/componentize-js@0.23`; set COMPONENTIZE_JS
# to its binary if it is not on PATH). The host provides no wasi:http, so
# those features are disabled. Usage: build.sh [OUT.wasm]
set -euo pipefail
cd "$(dirname "$0")"
out="$(realpath -m "${1:-js_validator.wasm}")"
tool="${COMPONENTIZE_JS:-componentize-js}"
"$tool" app.js --wit "$(realpath ../../wit/v0.1.0)" --world-name extended-profile-validator \
  --disable http fetch-event -o "$out"
