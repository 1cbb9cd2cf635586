#!/usr/bin/env bash
# Runs every check of the project from a fresh clone: installs what it needs (Debian gnupg,
# openssl and Go when missing, Node 24 when the system Node is older, npm packages), then lint,
# format, type checks, build, and the whole test suite with real GnuPG, real HTTP servers, a real
# etcd + kube-apiserver (built from Go modules on first use) and the shared fixtures.
set -euo pipefail
cd "$(dirname "$0")/.."

# Go builds the real etcd and kube-apiserver for the controller's end-to-end tests; Debian's
# docker-registry is the real OCI registry the registry client is tested against. The deploy test
# (test/e2e/deploy.test.ts) builds the image with buildah on a base made by mmdebstrap and runs it
# on a node of containerd, runc and the CNI plugins, with iptables for kube-proxy; gcc builds the
# node's pause program.
# shellcheck source=scripts/ensure-packages.sh
source scripts/ensure-packages.sh gpg:gnupg gpg-agent:gpg-agent openssl:openssl go:golang-go \
  docker-registry:docker-registry containerd:containerd runc:runc \
  /usr/lib/cni/bridge:containernetworking-plugins buildah:buildah mmdebstrap:mmdebstrap \
  iptables:iptables gcc:gcc

# shellcheck source=scripts/ensure-node.sh
source scripts/ensure-node.sh
echo "test: node $(node --version), npm $(npm --version 2>/dev/null)"

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund --loglevel=error
fi

echo "test: eslint"; npx --no-install eslint .
echo "test: prettier"; npx --no-install prettier --check . >/dev/null
echo "test: tsc"; npx --no-install tsc --noEmit -p tsconfig.json
echo "test: build"; npm run --silent build

# Go programs the tests run (the local control plane; containers/image, library-go and cosign as
# the differential tests' judges) are built here, never inside a test: a cold build takes minutes.
echo "test: go tools"; node --import tsx test/tooling/build-go-tools.ts
# The image from the Dockerfile, for the deploy test: cached by its inputs in .cache/image.
echo "test: image"; node --import tsx testbed/image/build-image.ts

mapfile -t files < <(find test -name '*.test.ts' | sort)
echo "test: ${#files[@]} test files"
node --import tsx --test --test-concurrency=2 --test-timeout=300000 --test-reporter=spec "${files[@]}"
