#!/usr/bin/env bash
# The main job: runs the service (`cvo-verifier serve`). Installs what it needs (Debian gnupg,
# Go for the local control plane, Node 24 when the system Node is older, npm packages) and builds.
# With a cluster (--kubeconfig, KUBECONFIG, in-cluster, ~/.kube/config) it serves that cluster;
# with none it starts a local etcd + kube-apiserver, a signature store and a release key and walks
# through by-tag, signed, forced-unsigned and late-signed updates. Arguments run another command:
#   ./scripts/run.sh verify quay.io/...@sha256:... --root-of-trust cm.yaml
set -euo pipefail
cd "$(dirname "$0")/.."
need_apt=()
command -v gpg >/dev/null 2>&1 || need_apt+=(gnupg)
command -v gpg-agent >/dev/null 2>&1 || need_apt+=(gpg-agent)
command -v go >/dev/null 2>&1 || need_apt+=(golang-go)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "run: installing Debian packages: ${need_apt[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi
# An older Go fetches the toolchain control-plane/go.mod names from the Go module proxy.
export GOTOOLCHAIN="${GOTOOLCHAIN:-auto}"
# shellcheck source=scripts/ensure-node.sh
source scripts/ensure-node.sh
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund --loglevel=error
fi
npm run --silent build
if [ $# -eq 0 ]; then set -- serve; fi
exec ./bin/cvo-verifier "$@"
