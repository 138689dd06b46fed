#!/usr/bin/env bash
# Builds python_validator.wasm from app.py with componentize-py (from PyPI:
# `pip install componentize-py==0.25.0`). Usage: build.sh [OUT.wasm]
set -euo pipefail
cd "$(dirname "$0")"
out="${1:-python_validator.wasm}"
componentize-py -d ../../wit/v0.1.0 -w extended-profile-validator componentize app -o "$out"
