#!/usr/bin/env bash
# Installs the interop suite's tools (grpcurl 1.8.6, grpcio, grpcio-tools, grpcio-health-checking,
# protobuf, googleapis-common-protos) into .tools/venv, pinned by tests/interop/requirements.txt.
# Idempotent: a stamp holding the requirements' hash makes a second run a no-op. Quiet unless pip
# fails (then its log is shown). Prints the venv's bin folder on the last line, so callers can use
#   bin="$(scripts/install-tools.sh | tail -1)"; "$bin/grpcurl" ...
# Call grpcurl by that path: pyenv shims do not see scripts pip puts into a venv.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
venv="$root/.tools/venv"
reqs="$root/tests/interop/requirements.txt"
stamp="$venv/.installed-requirements"
want="$(sha256sum "$reqs" | cut -d' ' -f1)"

if [[ -x "$venv/bin/python" && -x "$venv/bin/grpcurl" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
  echo "$venv/bin"
  exit 0
fi

python="${PYTHON:-python3}"
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
if [[ ! -x "$venv/bin/python" ]]; then
  mkdir -p "$root/.tools"
  "$python" -m venv "$venv" >"$log" 2>&1 || { cat "$log" >&2; echo "install-tools: cannot create $venv" >&2; exit 1; }
fi
if ! "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-input -r "$reqs" >"$log" 2>&1; then
  cat "$log" >&2
  echo "install-tools: pip install failed" >&2
  exit 1
fi
"$venv/bin/grpcurl" -version >"$log" 2>&1 || { cat "$log" >&2; echo "install-tools: grpcurl does not run" >&2; exit 1; }
grep -q 'v1.8.6' "$log" || { cat "$log" >&2; echo "install-tools: expected grpcurl v1.8.6" >&2; exit 1; }
echo "$want" >"$stamp"
echo "$venv/bin"
