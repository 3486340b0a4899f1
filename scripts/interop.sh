#!/usr/bin/env bash
# The interop suite: real grpcurl (README examples executed as printed) and a Python grpcio client
# generated from proto/, against the built `etc-esign dev` on a fresh SQLite file, loopback only.
#   scripts/interop.sh [--counts-file FILE]
# Exits non-zero when any check fails. Tools come from scripts/install-tools.sh (.tools/venv).
set -euo pipefail
cd "$(dirname "$0")/.."
bin_dir="$(scripts/install-tools.sh | tail -1)"
cargo build --quiet --locked --bin etc-esign
target_dir="$(cargo metadata --format-version 1 --no-deps | "$bin_dir/python" -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')"
exec "$bin_dir/python" tests/interop/run.py --bin "$target_dir/debug/etc-esign" --tools-bin "$bin_dir" "$@"
