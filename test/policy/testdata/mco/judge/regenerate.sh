#!/usr/bin/env bash
# Regenerates ../expected.json: the MCO's own rendering helpers, built from its source, run on
# ../cases.json. Needs Go, python3 and a git directory of openshift/machine-config-operator.
# Usage: regenerate.sh MCO_GIT_DIR [COMMIT]   (COMMIT defaults to HEAD)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
git_dir=$1
commit=$(git --git-dir="$git_dir" rev-parse "${2:-HEAD}")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
show() { git --git-dir="$git_dir" show "$commit:$1"; }

cp "$here/main.go" "$here/go.mod" "$here/go.sum" "$work/"
show pkg/controller/container-runtime-config/helpers.go >"$work/helpers.go.in"
show pkg/controller/container-runtime-config/container_runtime_config_controller.go >"$work/controller.go.in"
show templates/worker/01-worker-container-runtime/_base/files/policy.yaml >"$work/policy.yaml"
# The module versions the MCO builds with must be the judge's: compare its go.mod.
for module in github.com/containers/image/v5 github.com/openshift/api \
  github.com/openshift/runtime-utils github.com/ghodss/yaml gopkg.in/yaml.v2; do
  theirs=$(show go.mod | awk -v m="$module" '$1 == m { print $2; exit }')
  ours=$(awk -v m="$module" '$1 == m { print $2; exit }' "$here/go.mod")
  if [ "$theirs" != "$ours" ]; then
    echo "regenerate.sh: $module is $theirs in the MCO at $commit, $ours in judge/go.mod" >&2
    exit 1
  fi
done
python3 "$here/extract.py" "$work/helpers.go.in" "$work/controller.go.in" >"$work/helpers_extracted.go"
(cd "$work" && CGO_ENABLED=0 go build -trimpath -tags containers_image_openpgp -o judge .)
node -e '
  const fs = require("node:fs");
  const cases = JSON.parse(fs.readFileSync(process.argv[1], "utf8"));
  process.stdout.write(JSON.stringify({ templatePath: process.argv[2], cases }));
' "$here/../cases.json" "$work/policy.yaml" | "$work/judge" >"$work/results.json"
node -e '
  const fs = require("node:fs");
  const results = JSON.parse(fs.readFileSync(process.argv[1], "utf8"));
  const out = { mcoCommit: process.argv[2], results };
  fs.writeFileSync(process.argv[3], JSON.stringify(out, null, 2) + "\n");
' "$work/results.json" "$commit" "$here/../expected.json"
echo "regenerate.sh: wrote $(cd "$here/.." && pwd)/expected.json from the MCO at $commit"
