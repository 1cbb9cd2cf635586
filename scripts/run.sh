#!/usr/bin/env bash
# The main job. Installs what it needs (Debian gnupg, Node 24 when the system Node is older,
# npm packages), builds, and runs the verifier's local demonstration: a release key made with
# GnuPG, a root-of-trust ConfigMap, a signature store on 127.0.0.1, and by-tag, signed and
# unsigned releases verified end to end. Extra arguments run another command instead, e.g.
#   ./scripts/run.sh verify quay.io/...@sha256:... --root-of-trust cm.yaml
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v gpg >/dev/null 2>&1 || ! command -v gpg-agent >/dev/null 2>&1; then
  echo "run: installing Debian packages gnupg gpg-agent"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq gnupg gpg-agent >/dev/null
fi
# shellcheck source=scripts/ensure-node.sh
source scripts/ensure-node.sh
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund --loglevel=error
fi
npm run --silent build
if [ $# -eq 0 ]; then set -- demo; fi
exec ./bin/cvo-verifier "$@"
