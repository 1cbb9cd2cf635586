#!/usr/bin/env bash
# The main job: runs the service (`cvo-verifier serve`). Installs what it needs (Debian gnupg,
# docker-registry, Go for the local control plane, Node 24 when the system Node is older, npm
# packages) and builds. With a cluster (--kubeconfig, KUBECONFIG, in-cluster, ~/.kube/config) it
# serves that cluster; with none it starts a local etcd + kube-apiserver, a signature store, a
# registry and a release key and walks through by-tag, signed, forced-unsigned, late-signed and
# payload-checked updates. That choice, and the walkthroughs, are walkthrough/main.ts, run from
# source through tsx: the walkthroughs use test material (testbed/) that dist/ leaves out.
#   ./scripts/run.sh [serve] [serve options] [--keep-running]
#       (Ctrl-C, SIGTERM or SIGHUP stop the walkthrough and everything it started; it exits 128 + the
#       signal's number. The exec below keeps this script's pid: the signal reaches node directly.)
#   ./scripts/run.sh demo          the GPG-only walkthrough, no cluster
# Other arguments run another command of the built CLI:
#   ./scripts/run.sh verify quay.io/...@sha256:... --root-of-trust cm.yaml
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/ensure-packages.sh
source scripts/ensure-packages.sh gpg:gnupg gpg-agent:gpg-agent go:golang-go docker-registry:docker-registry
# shellcheck source=scripts/ensure-node.sh
source scripts/ensure-node.sh
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund --loglevel=error
fi
# Build only when a source or the build's configuration is newer than dist/ (3 s saved per call).
if [ ! -f dist/cli/main.js ] ||
  [ -n "$(find src tsconfig.json tsconfig.build.json package-lock.json -newer dist/cli/main.js -print -quit)" ]; then
  npm run --silent build
fi
if [ $# -eq 0 ] || [ "$1" = serve ] || [ "$1" = demo ] || [[ "$1" == -* ]]; then
  exec node --import tsx walkthrough/main.ts "$@"
fi
exec ./bin/cvo-verifier "$@"
