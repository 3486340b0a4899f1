#!/usr/bin/env bash
# Installs the buf CLI (the npm package @bufbuild/buf, pinned below; it brings the binary for this
# platform) into .tools/buf with npm. Idempotent: a stamp holding the version makes a second run a
# no-op. Quiet unless npm fails (then its log is shown). Prints the buf binary's path on the last
# line, so callers can use
#   buf="$(scripts/install-buf.sh | tail -1)"; "$buf" lint
set -euo pipefail
version="1.75.0"
root="$(cd "$(dirname "$0")/.." && pwd)"
prefix="$root/.tools/buf"
buf="$prefix/node_modules/.bin/buf"
stamp="$prefix/.installed-version"

if [[ -x "$buf" && -f "$stamp" && "$(cat "$stamp")" == "$version" ]]; then
  echo "$buf"
  exit 0
fi

command -v npm >/dev/null || { echo "install-buf: npm is needed (Node.js) to install buf $version" >&2; exit 1; }
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
mkdir -p "$prefix"
if ! npm install --prefix "$prefix" --save-exact --no-audit --no-fund --loglevel=error \
  "@bufbuild/buf@$version" >"$log" 2>&1; then
  cat "$log" >&2
  echo "install-buf: npm install @bufbuild/buf@$version failed" >&2
  exit 1
fi
"$buf" --version >"$log" 2>&1 || { cat "$log" >&2; echo "install-buf: buf does not run" >&2; exit 1; }
grep -qx "$version" "$log" || { cat "$log" >&2; echo "install-buf: expected buf $version" >&2; exit 1; }
echo "$version" >"$stamp"
echo "$buf"
