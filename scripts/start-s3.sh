#!/usr/bin/env bash
# Starts moto's S3-compatible server (PyPI `moto[server]`, installed into .tools/venv by
# scripts/install-tools.sh) on a free loopback port, for the tests of the S3 object store.
#   eval "$(scripts/start-s3.sh)"   # exports ETC_ESIGN_TEST_S3=http://127.0.0.1:PORT and ETC_ESIGN_S3_PID
# The server lives until `kill "$ETC_ESIGN_S3_PID"`; its log is .tools/moto.log.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
bin_dir="$("$root/scripts/install-tools.sh" | tail -1)"
port="$("$bin_dir/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
"$bin_dir/moto_server" -H 127.0.0.1 -p "$port" >"$root/.tools/moto.log" 2>&1 &
pid=$!
for _ in $(seq 1 100); do
  if "$bin_dir/python" -c "import urllib.request, sys; urllib.request.urlopen('http://127.0.0.1:$port/', timeout=1)" 2>/dev/null; then
    echo "export ETC_ESIGN_TEST_S3=http://127.0.0.1:$port ETC_ESIGN_S3_PID=$pid"
    exit 0
  fi
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.2
done
cat "$root/.tools/moto.log" >&2
echo "start-s3: moto_server did not come up on port $port" >&2
kill "$pid" 2>/dev/null || true
exit 1
