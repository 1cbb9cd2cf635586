#!/usr/bin/env bash
# Runs every check of the project from a fresh clone: installs what it needs (Debian gnupg,
# openssl and Go when missing, Node 24 when the system Node is older, npm packages), then lint,
# format, type checks, build, and the whole test suite with real GnuPG, real HTTP servers, a real
# etcd + kube-apiserver (built from Go modules on first use) and the shared fixtures.
set -euo pipefail
cd "$(dirname "$0")/.."

# Go builds the real etcd and kube-apiserver for the controller's end-to-end tests; Debian's
# docker-registry is the real OCI registry the registry client is tested against.
# shellcheck source=scripts/ensure-packages.sh
source scripts/ensure-packages.sh gpg:gnupg gpg-agent:gpg-agent openssl:openssl go:golang-go docker-registry:docker-registry

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

mapfile -t files < <(find test -name '*.test.ts' | sort)
echo "test: ${#files[@]} test files"
node --import tsx --test --test-concurrency=2 --test-timeout=300000 --test-reporter=spec "${files[@]}"
