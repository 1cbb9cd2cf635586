#!/usr/bin/env bash
# Runs every check of the project from a fresh clone: installs what it needs (Debian gnupg and
# openssl, Node 24 when the system Node is older, npm packages), then lint, format, type checks,
# build, and the whole test suite with real GnuPG, real HTTP servers and the shared fixtures.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v gpg >/dev/null 2>&1 || need_apt+=(gnupg)
command -v gpg-agent >/dev/null 2>&1 || need_apt+=(gpg-agent)
command -v openssl >/dev/null 2>&1 || need_apt+=(openssl)
# Go builds the real etcd and kube-apiserver for the controller's end-to-end tests. An older Go
# fetches the toolchain control-plane/go.mod names (go 1.26) from the Go module proxy by itself.
command -v go >/dev/null 2>&1 || need_apt+=(golang-go)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "test: installing Debian packages: ${need_apt[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

export GOTOOLCHAIN="${GOTOOLCHAIN:-auto}"

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

mapfile -t files < <(find test -name '*.test.ts' | sort)
echo "test: ${#files[@]} test files"
node --import tsx --test --test-concurrency=2 --test-timeout=300000 --test-reporter=spec "${files[@]}"
