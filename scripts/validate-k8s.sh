#!/usr/bin/env bash
# Validates every manifest under k8s/ against the Kubernetes API schemas, offline and strictly (an
# unknown or misspelt field is an error, not a silently dropped one), then proves the check bites by
# requiring that broken copies fail. `kubectl --dry-run=client` would need a cluster; this does not.
# Installs its own pinned kubernetes-validate into .tools/k8s-venv once (re-installed when the pins
# change). Cross-checks with the binary (ports, names, env vars) are in tests/e2e/ops.rs. Last, lints
# the Dockerfile, which cannot be built on machines without a Docker engine.
set -euo pipefail
cd "$(dirname "$0")/.."

# The oldest Kubernetes the manifests must work on: preStop `sleep` is on by default from 1.30.
K8S_VERSION="${K8S_VERSION:-1.33.0}"
requirements=scripts/k8s-validate-requirements.txt
venv=.tools/k8s-venv
stamp="$venv/.installed-$(sha256sum "$requirements" | cut -c1-16)"

if [ ! -f "$stamp" ]; then
  echo "installing kubernetes-validate into $venv"
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check --no-input -r "$requirements"
  touch "$stamp"
fi
validate() { "$venv/bin/kubernetes-validate" --strict --quiet -k "$K8S_VERSION" "$@"; }

# kustomization.yaml is kustomize's own file, not an API object: it has no schema to check against.
manifests=()
for f in k8s/*.yaml; do
  [ "$(basename "$f")" = kustomization.yaml ] || manifests+=("$f")
done
[ "${#manifests[@]}" -gt 0 ] || { echo "no manifests under k8s/" >&2; exit 1; }
validate "${manifests[@]}"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

# What `kubectl apply -k k8s/` would send: kustomize renders offline, no cluster needed.
rendered="not rendered (no kubectl)"
if command -v kubectl >/dev/null 2>&1; then
  kubectl kustomize k8s/ >"$tmp/rendered.yaml"
  validate "$tmp/rendered.yaml"
  rendered="the kustomize render valid"
else
  echo "kubectl not found: the kustomize render is not checked (tests/e2e/ops.rs checks its resource list)" >&2
fi

# The same validation must refuse a misspelt field and a value of the wrong type.
mkdir "$tmp/broken"
sed 's/^\(\s*\)containerPort: 50051$/&\n\1containerPrt: 50051/' k8s/deployment.yaml >"$tmp/broken/misspelt-field.yaml"
sed 's/^  replicas: 2$/  replicas: two/' k8s/deployment.yaml >"$tmp/broken/wrong-type.yaml"
for broken in "$tmp"/broken/*.yaml; do
  if cmp -s "$broken" k8s/deployment.yaml; then
    echo "could not break a copy of k8s/deployment.yaml ($(basename "$broken")): update this script" >&2
    exit 1
  fi
  if validate "$broken" >"$tmp/out" 2>&1; then
    echo "a broken manifest passed validation ($(basename "$broken")): the check is not strict" >&2
    exit 1
  fi
done

"$venv/bin/hadolint" --no-color Dockerfile

echo "k8s: ${#manifests[@]} manifests valid against Kubernetes $K8S_VERSION (strict, offline); $rendered; broken copies rejected; Dockerfile lint clean"
