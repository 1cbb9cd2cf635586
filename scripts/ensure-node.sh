#!/usr/bin/env bash
# Source this file: it puts a Node.js >= 22.19 on PATH, installing Node 24 LTS from the npm
# registry's `node` package into the gitignored .tools/ folder when the system Node is older.
# Why the npm package: the only registries this project may reach are package registries.
NODE24_VERSION="24.21.0"
_cvo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
_cvo_node_dir="$_cvo_root/.tools/node-$NODE24_VERSION"

_cvo_node_ok() {
  command -v node >/dev/null 2>&1 || return 1
  node -e 'const [a,b]=process.versions.node.split(".").map(Number);process.exit(a>22||(a===22&&b>=19)?0:1)'
}

if ! _cvo_node_ok; then
  if [ ! -x "$_cvo_node_dir/node_modules/node/bin/node" ]; then
    echo "ensure-node: system Node $(node --version 2>/dev/null || echo absent) is older than 22.19; installing Node $NODE24_VERSION into .tools/ ..." >&2
    mkdir -p "$_cvo_node_dir"
    npm install --prefix "$_cvo_node_dir" --no-save --no-audit --no-fund --loglevel=error "node@$NODE24_VERSION" >&2 \
      || { echo "ensure-node: could not install node@$NODE24_VERSION from the npm registry" >&2; return 1 2>/dev/null || exit 1; }
  fi
  export PATH="$_cvo_node_dir/node_modules/node/bin:$PATH"
  _cvo_node_ok || { echo "ensure-node: Node on PATH is still too old: $(node --version)" >&2; return 1 2>/dev/null || exit 1; }
fi
unset -f _cvo_node_ok
