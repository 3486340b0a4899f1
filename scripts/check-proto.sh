#!/usr/bin/env bash
# The contract's checks, as buf.yaml configures them: `buf lint` (STANDARD and COMMENTS) on proto/,
# then `buf breaking` of proto/ as it is in the working tree against proto/ of the previous commit
# (HEAD~1), so that a change that would break a caller's generated code fails here instead of
# there. Skips the breaking check, saying so, when there is no previous commit or it had no proto/.
#   scripts/check-proto.sh [--against REV]     (REV defaults to HEAD~1)
set -euo pipefail
cd "$(dirname "$0")/.."
against="HEAD~1"
if [[ "${1:-}" == "--against" && -n "${2:-}" ]]; then against="$2"; fi
buf="$(scripts/install-buf.sh | tail -1)"

"$buf" lint
echo "buf lint: proto/ passes STANDARD and COMMENTS"

if ! rev="$(git rev-parse --verify --quiet "$against^{commit}")"; then
  echo "buf breaking: skipped, there is no commit $against to compare with"
  exit 0
fi
if [[ -z "$(git ls-tree -d "$rev" proto)" ]]; then
  echo "buf breaking: skipped, $against (${rev:0:7}) has no proto/"
  exit 0
fi
previous="$(mktemp -d)"
trap 'rm -rf "$previous"' EXIT
git archive "$rev" proto | tar -x -C "$previous"
# Against the bare directory: its files keep the paths they have in the module (etc/esign/v1/...).
"$buf" breaking proto --against "$previous/proto"
echo "buf breaking: proto/ keeps every caller of $against (${rev:0:7}) compiling"
